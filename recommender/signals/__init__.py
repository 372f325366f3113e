"""signals — the scores the hybrid blends, one module per signal.

- ``content``: TF-IDF profile ↔ course cosine
- ``collaborative``: item–item models (EASE, item-kNN) and next-course transitions
- ``popularity``: time-decayed popularity per cadre segment with backoff
"""
