"""signals — the scores the hybrid blends, one module per signal, one contract for all.

- ``base``: ``Signal`` (fit on TrainingData = ``statistics(data)`` + ``fit_from_statistics``
  from the sufficient statistics and the catalog side, ``CatalogMeta``; score a batch; score
  one Query; memo key),
  ``Query``/``QueryBatch`` (who is asking, with what profile, history and context),
  ``ColdBridge`` (courses nobody took borrow their text neighbours' scores)
- ``content``: TF-IDF profile ↔ course cosine
- ``collaborative``: item–item models (EASE, item-kNN) on the cadre's current history
- ``popularity``: time-decayed popularity per segment with back-off, or overall
- ``quality``: rating prior; ``sequence``: next-course transitions; ``context``: formats and
  study windows; ``field``: fields of work named by the profile → course categories
- ``transition``: smoothed next-course probabilities (counts lent by text neighbours,
  back-off to next-course popularity) over the whole history
- ``instructor``: courses sharing a teacher with the cadre's history
"""
