"""ranking — signals in, ranked and explained courses out.

- ``hybrid``: the blend of signal scores (z-scored per cadre, warm and cold weights)
- ``blend_search``: fitting the blend weights on a validation split
- ``serving``: single-cadre request path and its caches
- ``explain``: reasons for every recommended course
- ``model``: ``RecommenderModel`` — ids in, filtered, ranked, explained courses out
- ``metrics``: ranking metrics (NDCG, recall, MAP, coverage, diversity)
"""
