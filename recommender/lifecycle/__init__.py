"""lifecycle — training, evaluation, artifacts and completion events.

- ``train``: data directory in, published model version out
- ``evaluate``: one split, every model and baseline scored in the same run
- ``artifacts``: versioned model directories (no pickle), atomic publish, ``current``;
  verified before load
- ``codec``: a model's object graph as JSON + named arrays, decoded through an allow-list;
  ``tensors``: the arrays' safetensors file
- ``signing``: Ed25519 signatures of artifacts (private key where models are trained, public
  keys on replicas); ``legacy``: format 4 (HMAC-signed pickle), read only to upgrade it
- ``versions``: list, prune, re-sign and upgrade the versions of a models root
- ``events``: the completion-event store posted to by portals (SQLite; ``events_pg``:
  PostgreSQL for several replicas), with the event rules
- ``keys``: the HTTP service's API keys (hashed, scopes read / write / admin)
"""
