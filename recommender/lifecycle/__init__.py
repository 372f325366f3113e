"""lifecycle — training, evaluation, artifacts and completion events.

- ``train``: data directory in, published model version out
- ``evaluate``: one split, every model and baseline scored in the same run
- ``artifacts``: versioned model directories, atomic publish, ``current``; verified before load
- ``signing``: HMAC-SHA256 signatures of artifacts, the signing key and its rotation
- ``versions``: list, prune and re-sign the versions of a models root
- ``events``: the completion-event store posted to by portals (SQLite; ``events_pg``:
  PostgreSQL for several replicas), with the event rules
- ``keys``: the HTTP service's API keys (hashed, scopes read / write / admin)
"""
