"""Listwise blend weights: the informative signal gets the weight, the answer is stable."""

from __future__ import annotations

import numpy as np

from recommender.ranking.listwise import listwise_weights


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, items = 200, 30
    relevant = np.zeros((rows, items), dtype=bool)
    relevant[np.arange(rows), rng.integers(0, items, rows)] = True
    hit = relevant.astype(np.float32)
    noise = rng.standard_normal((rows, items)).astype(np.float32)
    useful = (hit * 2.0 + rng.standard_normal((rows, items))).astype(np.float32)
    harmful = (-hit * 2.0 + rng.standard_normal((rows, items))).astype(np.float32)
    comps = {"useful": useful, "noise": noise, "harmful": harmful}
    return comps, np.ones((rows, items), dtype=bool), relevant


def test_informative_signal_gets_the_weight_and_harmful_gets_none():
    comps, listable, relevant = _problem()
    w = listwise_weights(comps, listable, relevant, list(comps))
    assert w["useful"] > 1.0
    assert w["noise"] < 0.2 * w["useful"]
    assert w["harmful"] == 0.0  # weights are non-negative


def test_same_answer_whatever_the_order_of_signals():
    comps, listable, relevant = _problem()
    a = listwise_weights(comps, listable, relevant, ["useful", "noise", "harmful"])
    b = listwise_weights(comps, listable, relevant, ["harmful", "noise", "useful"])
    for name in comps:
        assert abs(a[name] - b[name]) < 1e-3


def test_targets_outside_the_list_do_not_count():
    comps, listable, relevant = _problem()
    assert listwise_weights(comps, listable & ~relevant, relevant, list(comps)) is None
