"""ranking — signals in, ranked and explained elective courses out.

- ``hybrid``: ``Hybrid(signals=...)``: per-cadre z-scored blend, warm and cold weights, the
  request path (``score_one``) with its ``ServingState`` memo
- ``blend_search``: fitting the weights on a validation split (protocol from the data's shape)
- ``scaling``: z-scores and top-k; ``metrics``: ranking metrics
- ``model``: ``RecommenderModel`` — ids in, filtered, ranked, explained courses out
- ``explain``: reasons for every recommended course
- ``pipeline``: ``TrainConfig``, ``default_signals``, ``fit_recommender``
"""
