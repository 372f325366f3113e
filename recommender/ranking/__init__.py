"""ranking — signals in, ranked and explained elective courses out.

One request, three rooms (after lkpy's pipeline), wired by the model:

- ``queries``: ``CadreQuery`` built publicly from a cadre id (plus newer events) or a profile
- ``hybrid``: ``Hybrid(signals=...)``: per-cadre z-scored blend, warm and cold weights, the
  request path (``score_one``) with its ``ServingState`` memo; ``blend_search`` fits the
  weights on a validation split (protocol from the data's shape), ``listwise`` the warm ones
- ``candidates``: the one ``CandidatePolicy`` (active, open, audience, electives, not taken,
  category/format) for requests, weight fitting and evaluation, counting what each rule removed
- ``ranker``: top-k with field coverage; ``explain``: ``Explainer`` (each signal explains its
  own part); ``results``: ``Recommendation``, ``Ranked`` (a list that says why it is short)
- ``model``: ``RecommenderModel`` — ``query`` → ``score`` → ``rank``; ``recommend`` does all
  three; ``batch``: the vectorised many-cadre path; ``courses``: compulsory and similar courses
- ``scaling``: z-scores and top-k; ``metrics``: ranking metrics
- ``pipeline``: ``TrainConfig`` (round-trips through TOML), ``default_signals``, ``fit_recommender``
"""
