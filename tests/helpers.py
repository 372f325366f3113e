"""Shared test helpers: a checkerboard interaction matrix and a scorer contract mixin.

Each scorer's test class is a few lines::

    class TestEASE(ScorerContract):
        def make_model(self):
            return EASE(l2=10)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError


@dataclass(frozen=True)
class Checkerboard:
    """Training matrix plus, for each test user, the in-block item withheld from it."""

    train: sp.csr_matrix
    test_users: np.ndarray
    withheld: np.ndarray
    user_group: np.ndarray
    item_group: np.ndarray


def checkerboard(
    n_users: int = 60,
    n_items: int = 40,
    seed: int = 0,
    *,
    n_groups: int = 2,
    noise: int = 1,
    test_every: int = 3,
) -> Checkerboard:
    """Users in ``n_groups`` groups, each completing every item of its own item block.

    Weights are random in [0.5, 1]; each user also has ``noise`` weak (0.1)
    interactions outside their block. Every ``test_every``-th user has one random
    in-block item withheld, which must then rank first among that user's unseen items.
    """
    rng = np.random.default_rng(seed)
    user_group = np.arange(n_users) * n_groups // n_users
    item_group = np.arange(n_items) * n_groups // n_items
    dense = np.where(
        user_group[:, None] == item_group[None, :], rng.uniform(0.5, 1.0, (n_users, n_items)), 0.0
    )
    for u in range(n_users):
        outside = np.flatnonzero(item_group != user_group[u])
        dense[u, rng.choice(outside, size=noise, replace=False)] = 0.1
    test_users = np.arange(0, n_users, test_every)
    withheld = np.array(
        [rng.choice(np.flatnonzero(item_group == user_group[u])) for u in test_users]
    )
    dense[test_users, withheld] = 0.0
    train = sp.csr_matrix(dense.astype(np.float32))
    return Checkerboard(train, test_users, withheld, user_group, item_group)


def artifact_roundtrip(obj: object, folder: Path) -> object:
    """``obj`` written as an artifact's ``model.json`` + ``arrays.safetensors`` and loaded
    back by :func:`recommender.lifecycle.artifacts.unpack` (what ``load_model`` runs after
    the signature check)."""
    from recommender.lifecycle import codec, tensors
    from recommender.lifecycle.artifacts import ARRAYS_FILE, MODEL_FILE, unpack

    doc, arrays = codec.encode(obj)
    (folder / MODEL_FILE).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (folder / ARRAYS_FILE).write_bytes(tensors.dumps(arrays))
    files = {name: memoryview((folder / name).read_bytes()) for name in (MODEL_FILE, ARRAYS_FILE)}
    return unpack(files)


class ScorerContract:
    """Tests every item–item scorer (``fit(X)`` / ``score(history)``) must pass.

    Subclasses (named ``Test…``) define :meth:`make_model`.
    """

    def make_model(self):
        raise NotImplementedError

    @pytest.fixture
    def board(self) -> Checkerboard:
        return checkerboard()

    @pytest.fixture
    def fitted(self, board):
        return self.make_model().fit(board.train)

    def test_fit_returns_self(self, board):
        model = self.make_model()
        assert model.fit(board.train) is model

    def test_score_before_fit_raises(self, board):
        with pytest.raises(NotFittedError):
            self.make_model().score(board.train[:1])

    def test_withheld_item_ranks_first_among_unseen(self, board, fitted):
        scores = fitted.score(board.train[board.test_users])
        scores[board.train[board.test_users].toarray() > 0] = -np.inf
        np.testing.assert_array_equal(scores.argmax(axis=1), board.withheld)

    def test_save_load_gives_identical_scores(self, board, fitted, tmp_path):
        """Through the artifact format production writes (the codec's JSON + safetensors,
        read back by ``artifacts.unpack``), not a pickle."""
        loaded = artifact_roundtrip(fitted, tmp_path)
        assert loaded is not fitted and type(loaded) is type(fitted)
        np.testing.assert_array_equal(loaded.score(board.train), fitted.score(board.train))

    def test_deterministic(self, board, fitted):
        again = self.make_model().fit(board.train)
        np.testing.assert_array_equal(again.score(board.train), fitted.score(board.train))
        np.testing.assert_array_equal(fitted.score(board.train), fitted.score(board.train))

    def test_output_shape_and_dtype(self, board, fitted):
        n_items = board.train.shape[1]
        assert fitted.n_items_ == n_items
        for history, rows in ((board.train[:3], 3), (board.train[0], 1)):
            scores = fitted.score(history)
            assert scores.shape == (rows, n_items)
            assert scores.dtype == np.float32

    def test_dense_vector_history_scores_like_sparse_row(self, board, fitted):
        vector = board.train[5].toarray().ravel()
        np.testing.assert_allclose(fitted.score(vector), fitted.score(board.train[5]), rtol=1e-6)

    def test_history_of_wrong_width_is_rejected(self, board, fitted):
        with pytest.raises(ValueError, match="item columns"):
            fitted.score(sp.csr_matrix((1, board.train.shape[1] + 1), dtype=np.float32))

    def test_new_completion_changes_scores_without_refit(self, board, fitted):
        user = board.test_users[0]
        before = fitted.score(board.train[user])
        history = board.train[user].tolil()
        history[0, board.withheld[0]] = 1.0
        assert not np.array_equal(fitted.score(history.tocsr()), before)


def assert_prints_as_a_table(ws) -> None:
    """A table sheet an office prints: landscape A4, one page wide, the header row on every
    page, the header frozen on screen, every column at least 8 characters wide."""
    setup = ws.page_setup
    assert setup.orientation == "landscape", ws.title
    assert int(setup.paperSize) == int(ws.PAPERSIZE_A4), ws.title
    assert setup.fitToWidth == 1 and setup.fitToHeight == 0, ws.title
    assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
    assert ws.print_title_rows == "$1:$1" and ws.freeze_panes == "A2", ws.title
    letters = [c.column_letter for c in ws[1]]
    assert all(ws.column_dimensions[x].width >= 8 for x in letters), ws.title
