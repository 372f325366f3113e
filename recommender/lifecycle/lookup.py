"""What a portal or staff member typed → the cadre a loaded model knows, under one secret.

Portals and staff know a cadre by the full 身份证号; a model knows them by the keyed hash
(:mod:`recommender.data.identity`). :class:`CadreLookup` binds a loaded model to the
deployment's identity secret once, so the CLI, the HTTP routes and the console map a query
the same way, and never pass the plain number on (to a message, an event or a URL):

- a full 身份证号 → its keyed hash (or, for a roster with its own 干部编号, that id);
- anything else (a hashed id, the academy's own id) → itself.

A model records its secret's fingerprint at training; :func:`identity_problem` says in
Chinese when the secret at hand is missing or another one, so look-ups by 身份证号 fail
loudly at load instead of answering "unknown cadre" for everyone.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from recommender.data.identity import (
    IdentityError,
    cadre_key,
    mask_id_card,
    normalize_id_card,
    search_cadres,
    secret_fingerprint,
    shown_id,
)
from recommender.data.schema import Columns as C

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.model import RecommenderModel

_ID_LIKE = re.compile(r"\d{17}[\dX]|\d{15}")


def looks_like_id_card(text: object) -> bool:
    """True for 15 or 18 digits (the last may be X): hashed, never shown or stored as typed."""
    return bool(_ID_LIKE.fullmatch(normalize_id_card(text)))


def recorded_key_ids(metadata: Mapping[str, Any] | None) -> set[str]:
    """Fingerprints of the identity secret a model was trained under (one per table keyed by
    身份证号; empty for data without 身份证号)."""
    load = (metadata or {}).get("load") or []
    tables = load.values() if isinstance(load, Mapping) else load
    return {
        str(t["identity"]["key_id"])
        for t in tables
        if isinstance(t, Mapping) and isinstance(t.get("identity"), Mapping)
        and t["identity"].get("key_id")
    }  # fmt: skip


def identity_problem(
    metadata: Mapping[str, Any] | None, secret: bytes | str | None, why_none: str | None = None
) -> str | None:
    """A Chinese warning when look-ups by 身份证号 cannot work for this model and ``secret``:
    none configured (``why_none``: why, from :func:`configured_secret`), or not the one the
    model was trained under. None when all is well (or the model's data had no 身份证号)."""
    recorded = recorded_key_ids(metadata)
    if not recorded:
        return None
    shown = "、".join(sorted(recorded))
    if secret is None:
        return (
            f"模型按身份证号建立干部标识（密钥指纹 {shown}），但本机没有配置身份标识密钥："
            "按完整身份证号查找干部将失败。请设置 XUANXUE_ID_SECRET，或把训练机器上的密钥文件"
            "复制到 XUANXUE_ID_SECRET_FILE 指向的位置" + (f"（{why_none}）" if why_none else "")
        )
    mine = secret_fingerprint(secret)
    if mine not in recorded:
        return (
            f"身份标识密钥不一致：模型训练时的密钥指纹为 {shown}，本机的为 {mine}。"
            "按完整身份证号查找干部将全部失败。请使用训练机器上的同一密钥"
            "（XUANXUE_ID_SECRET 或 XUANXUE_ID_SECRET_FILE）"
        )
    return None


class CadreLookup:
    """One model and one identity secret: queries → cadre ids, searches, display names.

    Parameters
    ----------
    model : the loaded model (its ``cadres`` frame and ``metadata``)
    secret : the deployment's identity secret, or None (then a 身份证号 cannot be looked up)
    why_none : why there is no secret (shown in :attr:`problem`)
    """

    def __init__(
        self, model: RecommenderModel, secret: bytes | str | None, why_none: str | None = None
    ) -> None:
        # a proxy: the lookup is kept in a WeakKeyDictionary keyed by the model, and a strong
        # reference from the value would keep a replaced model alive after every reload
        self.model = model if isinstance(model, weakref.ProxyTypes) else weakref.proxy(model)
        self.secret = secret
        self.problem = identity_problem(model.metadata, secret, why_none)
        cadres = model.cadres
        self._by_hash: dict[str, str] = {}
        if C.ID_HASH in cadres:
            hashes = cadres[C.ID_HASH].astype(str)
            ids = cadres[C.CADRE_ID].astype(str)
            self._by_hash = {h: i for h, i in zip(hashes, ids, strict=True) if h and h != i}
        self._cols = [c for c in (C.NAME, C.ID_MASKED) if c in cadres]

    def resolve(self, query: object) -> str:
        """The cadre id for ``query`` (stripped; NFKC when the model does not know it as typed).
        A 身份证号 becomes its keyed hash, or the
        roster's own id for it; the result may be unknown to the model (callers answer 404
        with it: it never holds the full number). Raises :class:`IdentityError` (in Chinese)
        for a 身份证号 when no secret is configured."""
        text = str(query or "").strip()
        if not looks_like_id_card(text):  # a code typed full-width (ＧＢ0004) as ids are loaded
            return text if self.model.has_cadre(text) else unicodedata.normalize("NFKC", text)
        if self.secret is None:
            raise IdentityError(
                f"无法按身份证号（{mask_id_card(text)}）查找干部："
                + (self.problem or "本机没有配置身份标识密钥（XUANXUE_ID_SECRET）")
            )
        key = cadre_key(text, self.secret)
        if self.model.has_cadre(key):
            return key
        if key in self._by_hash:
            return self._by_hash[key]
        if self.model.has_cadre(text):  # an academy id of 15/18 digits that is no 身份证号
            return text
        return key

    def unknown_message(self, query: object) -> tuple[str, str]:
        """(message, hint) in Chinese for a query that found no cadre; the 身份证号 masked."""
        text = str(query or "").strip()
        if looks_like_id_card(text):
            shown = mask_id_card(text)
            hint = self.problem or "请核对身份证号；新干部请用 POST /v1/recommendations 提交档案"
            return f"模型中没有身份证号为 {shown} 的干部", hint
        return f"模型中没有编号为 {shown_id(text)} 的干部", ""  # a mistyped 身份证号 masked

    def display(self, cadre_id: str) -> dict[str, str]:
        """``{"name", "id_masked"}`` of a cadre for pages and workbooks ('' when the roster
        has none)."""
        out = {C.NAME: "", C.ID_MASKED: ""}
        if self._cols and self.model.has_cadre(str(cadre_id)):
            profile = self.model.cadre_profile(str(cadre_id))
            for col in self._cols:
                value = profile.get(col)
                out[col] = "" if value is None or pd.isna(value) else str(value)
        return out

    def search(self, text: object, *, limit: int = 50) -> pd.DataFrame:
        """Cadres matching what staff typed (:func:`recommender.data.identity.search_cadres`:
        full 身份证号, id, 姓名 or part of it, unit, masked digits); never a full number."""
        return search_cadres(self.model.cadres, text, limit=limit, secret=self.secret)


_LOOKUPS: weakref.WeakKeyDictionary[Any, CadreLookup] = weakref.WeakKeyDictionary()


def cadre_lookup(
    model: RecommenderModel, secret: bytes | str | None, why_none: str | None = None
) -> CadreLookup:
    """The :class:`CadreLookup` of ``model`` under ``secret``, built once per model."""
    found = _LOOKUPS.get(model)
    if found is None or found.secret != secret:
        found = _LOOKUPS[model] = CadreLookup(model, secret, why_none)
    return found


def configured_secret(
    value: str | bytes | None = None, path: str | Path | None = None
) -> tuple[bytes | None, str | None]:
    """(secret, None), or (None, why in Chinese) when none can be used: ``value`` itself, else
    the first line of the file ``path``, else the deployment default
    (:func:`recommender.data.identity.identity_secret`, never created here: only training
    creates a secret). A secret that is there but unusable (too short, unreadable) is
    reported, not ignored."""
    from recommender.data.identity import identity_secret

    try:
        if value:
            key = value.encode() if isinstance(value, str) else bytes(value)
            key = key.strip()
        elif path is not None:
            key = _first_line(Path(path))
        else:
            return identity_secret(create=False), None
        secret_fingerprint(key)  # raises IdentityError when too short
        return key, None
    except IdentityError as exc:
        return None, str(exc)


def _first_line(path: Path) -> bytes:
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except FileNotFoundError:
        raise IdentityError(f"身份标识密钥文件不存在：{path}") from None
    except OSError as exc:
        raise IdentityError(f"无法读取身份标识密钥 {path}（{exc.strerror}）") from exc
    return next((ln for ln in lines if ln and not ln.startswith("#")), "").encode()
