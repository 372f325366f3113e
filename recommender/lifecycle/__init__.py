"""lifecycle — training, evaluation, artifacts and completion events.

- ``train``: data directory in, published model version out
- ``evaluate``: one split, every model and baseline scored in the same run
- ``artifacts``: versioned model directories, atomic publish, ``current``
- ``events``: the completion-event store posted to by portals
"""
