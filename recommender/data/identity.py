"""Cadres known by the id the academy uses, without keeping a 身份证号 anywhere.

A roster keyed by 身份证号 (公民身份号码, GB 11643) is accepted as exported. The number is
sensitive personal information (个人信息保护法): on load it becomes

- ``cadre_id``: a keyed hash, ``pid_`` + 24 hex digits of HMAC-SHA256(secret, number) — the
  same number always gives the same id under one deployment secret, and the id cannot be
  turned back into the number without the secret;
- ``id_masked``: a display form for staff, ``4291**********3099``;
- ``id_hash``: the same keyed hash, kept even when the roster has its own 干部编号, so a
  portal may still look a cadre up by the full number.

The plain number never reaches a frame, a rejects line, a log line or an artifact. Look-ups
(:func:`find_cadre`) hash what is typed with the same secret; staff search by 姓名, part of a
name, unit or the masked id (:func:`search_cadres`).

The secret (:func:`identity_secret`): ``XUANXUE_ID_SECRET`` (the value itself, ≥ 16
characters), else the file ``XUANXUE_ID_SECRET_FILE`` (default
``$XDG_CONFIG_HOME/xuanxue/identity.key``), created (0600, random 256 bits) on first use where
models are trained. Every replica that looks cadres up by 身份证号 needs the same secret; a
model records its fingerprint (:func:`secret_fingerprint`), never the secret. Tests pass
:data:`TEST_ID_SECRET` explicitly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data.schema import Columns as C

#: environment variable holding the identity secret itself
ENV_SECRET = "XUANXUE_ID_SECRET"
#: environment variable naming the identity secret file
ENV_SECRET_FILE = "XUANXUE_ID_SECRET_FILE"
#: the secret tests use (never for a deployment: anyone can read it here)
TEST_ID_SECRET = b"xuanxue-test-identity-secret-not-for-production"
#: prefix of a hashed id, so a hashed id is never mistaken for an academy's own number
HASH_PREFIX = "pid_"
HASH_HEX = 24
MIN_SECRET_CHARS = 16
_DOMAIN = b"xuanxue-person-id-v1\n"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID18 = re.compile(r"\d{17}[\dX]")
_ID15 = re.compile(r"\d{15}")
#: what Excel makes of an 18-digit number in a General cell: 4.29125E+17, 429125197710213000
_SCIENTIFIC = re.compile(r"\d(\.\d+)?[Ee]\+?1[4-7]")
_ROUNDED = re.compile(r"\d{15,18}(\.0+)?")


class IdentityError(ValueError):
    """The identity secret is missing, too short or unreadable."""


def normalize_id_card(text: object) -> str:
    """'４２９１２５…x ' → '429125…X': full-width digits, spaces and a small x fixed."""
    t = unicodedata.normalize("NFKC", str(text or ""))
    t = "".join(t.split()).strip("'\"`‘’“”")
    return t.upper()


def id_checksum(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a 身份证号."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def is_id_card(text: object) -> bool:
    """True for a well-formed 18-digit 身份证号 with a valid check character (or 15 digits)."""
    t = normalize_id_card(text)
    if _ID15.fullmatch(t):
        return True
    return bool(_ID18.fullmatch(t)) and id_checksum(t[:17]) == t[17]


def id_card_problem(text: str) -> tuple[str, str] | None:
    """(Chinese reason, rule code) when ``text`` cannot be a 身份证号; None when it can.

    An id Excel turned into a number (4.29125E+17, or 18 digits ending in 000) has its own
    message: its last digits are lost and no one can restore them from the file.
    """
    t = normalize_id_card(text)
    if _SCIENTIFIC.fullmatch(t):
        return (
            f"身份证号被 Excel 转成了科学计数法（{t}），后几位已丢失，无法还原；"
            "请在导出或打开文件时把该列设为“文本”后重新导出",
            "id_mangled_by_excel",
        )
    if _ID18.fullmatch(t) and t.endswith("000") and id_checksum(t[:17]) != t[17]:
        return (  # 15 significant digits kept, the rest zeroed: Excel's doing
            f"身份证号被当作数字保存，末几位已变成 0（{mask_id_card(t)}），无法还原；"
            "请把该列设为“文本”后重新导出",
            "id_mangled_by_excel",
        )
    if _ID18.fullmatch(t) or _ID15.fullmatch(t):
        return None
    if _ROUNDED.fullmatch(t):
        return (
            f"身份证号被当作数字保存（{mask_id_card(t)}），可能已被 Excel 截断；"
            "请把该列设为“文本”后重新导出",
            "id_mangled_by_excel",
        )
    return (
        f"不是有效的身份证号（应为 18 位，实为 {len(t)} 位：{mask_id_card(t)}）",
        "bad_id_card",
    )


def mask_id_card(text: object) -> str:
    """'429125197710213272' → '4291**********3272' (first 4, last 4; short values mostly
    starred too). The display form for pages, workbooks and messages."""
    t = normalize_id_card(text)
    if len(t) >= 12:
        return t[:4] + "*" * (len(t) - 8) + t[-4:]
    if len(t) > 4:
        return t[:2] + "*" * (len(t) - 4) + t[-2:]
    return "*" * len(t)


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_CHARS:
        raise IdentityError(f"身份标识密钥过短（至少 {MIN_SECRET_CHARS} 个字符）")
    return key


def hash_id_card(text: object, secret: bytes | str) -> str:
    """The keyed hash a 身份证号 is known by: ``pid_`` + 24 hex digits (96 bits).

    Normalised first, so '42…x' and '42…X' (or full-width digits) give one id.
    """
    digest = hmac.new(_key(secret), _DOMAIN + normalize_id_card(text).encode(), hashlib.sha256)
    return HASH_PREFIX + digest.hexdigest()[:HASH_HEX]


def hash_id_cards(values: pd.Series, secret: bytes | str) -> pd.Series:
    """:func:`hash_id_card` of each cell ('' stays '')."""
    key = _key(secret)
    uniq = {v: (hash_id_card(v, key) if v else "") for v in pd.unique(values)}
    return values.map(uniq).astype(str)


def is_hashed_id(text: object) -> bool:
    """True for an id made by :func:`hash_id_card`."""
    return bool(re.fullmatch(f"{HASH_PREFIX}[0-9a-f]{{{HASH_HEX}}}", str(text)))


def secret_fingerprint(secret: bytes | str) -> str:
    """A public fingerprint of the secret (8 hex), recorded with a model so a replica
    holding another secret can say so instead of answering 'unknown cadre'."""
    return hmac.new(_key(secret), b"xuanxue-id-secret-fingerprint", hashlib.sha256).hexdigest()[:8]


def _secret_file() -> Path:
    given = os.environ.get(ENV_SECRET_FILE)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "xuanxue" / "identity.key"


def identity_secret(*, create: bool = False) -> bytes:
    """The deployment's identity secret: ``$XUANXUE_ID_SECRET``, else the first line of the
    secret file (created 0600 with a random key when ``create`` and absent)."""
    value = os.environ.get(ENV_SECRET)
    if value:
        return _key(value.strip())
    path = _secret_file()
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except FileNotFoundError:
        raise IdentityError(
            f"没有身份标识密钥：设置环境变量 {ENV_SECRET}，或在训练模型的机器上复制 {path}"
            f"（可用 {ENV_SECRET_FILE} 指定位置）"
        ) from None
    except OSError as exc:
        raise IdentityError(f"无法读取身份标识密钥 {path}（{exc.strerror}）") from exc
    key = next((ln for ln in lines if ln and not ln.startswith("#")), "")
    return _key(key)


# --- the load step ---------------------------------------------------------------------


def pseudonymise(
    ids: pd.Series, secret: bytes | str | None
) -> tuple[pd.Series, pd.Series, dict[int, tuple[str, str]]]:
    """(hashed ids, masked ids, {position: (reason, rule)}) for a column of 身份证号 cells.

    Cells already masked (re-validated frames) pass through with no hash; invalid cells get
    '' and a reason. ``secret`` None: no hashes (''), masks only.
    """
    norm = ids.map(normalize_id_card)
    masked = norm.map(lambda t: t if "*" in t else mask_id_card(t) if t else "")
    problems: dict[int, tuple[str, str]] = {}
    ok = np.ones(len(norm), bool)
    for i, t in enumerate(norm):
        if not t or "*" in t:
            ok[i] = False
        elif why := id_card_problem(t):
            problems[i] = why
            ok[i] = False
            masked.iloc[i] = t if why[1] == "id_mangled_by_excel" and "E" in t else masked.iloc[i]
    valid = norm.where(ok, "")
    hashed = hash_id_cards(valid, secret) if secret is not None else valid.map(lambda _: "")
    return hashed.astype(str), masked.astype(str), problems


def birth_facts(ids: pd.Series, today: dt.date | None = None) -> tuple[pd.Series, pd.Series]:
    """(age in whole years, '男'/'女') read from 18-digit 身份证号 cells (-1 / '' when not).

    Only these two facts leave the number (for 年轻干部 and 女干部 audiences)."""
    today = today or dt.date.today()

    def one(text: str) -> tuple[int, str]:
        t = normalize_id_card(text)
        if not _ID18.fullmatch(t):
            return -1, ""
        try:
            born = dt.date(int(t[6:10]), int(t[10:12]), int(t[12:14]))
        except ValueError:
            return -1, ""
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return age, "女" if int(t[16]) % 2 == 0 else "男"

    facts = ids.map(one)
    return facts.map(lambda f: f[0]).astype(int), facts.map(lambda f: f[1]).astype(str)


def bad_checksums(masked_and_raw: pd.Series) -> int:
    """How many 18-digit cells fail the check character (kept, but worth a warning)."""
    t = masked_and_raw.map(normalize_id_card)
    return int(sum(bool(_ID18.fullmatch(v)) and id_checksum(v[:17]) != v[17] for v in t))


# --- look-ups for CLI, HTTP and the console ---------------------------------------------


def find_cadre(cadres: pd.DataFrame, query: object, secret: bytes | str | None) -> str | None:
    """The ``cadre_id`` a portal or staff member means by ``query``: a full 身份证号 (hashed
    with the deployment ``secret``), an already hashed id, or the academy's own cadre id.
    None when no cadre matches."""
    text = str(query or "").strip()
    if not text or len(cadres) == 0:
        return None
    ids = cadres[C.CADRE_ID].astype(str)
    norm = normalize_id_card(text)
    if secret is not None and (_ID18.fullmatch(norm) or _ID15.fullmatch(norm)):
        key = hash_id_card(norm, secret)
        hit = ids[ids == key]
        if hit.empty and C.ID_HASH in cadres:
            hit = ids[cadres[C.ID_HASH].astype(str) == key]
        if len(hit):
            return str(hit.iloc[0])
    hit = ids[ids == text]
    return str(hit.iloc[0]) if len(hit) else None


def cadre_key(query: object, secret: bytes | str | None) -> str:
    """The id to use in a URL or a query for ``query``: a 身份证号 becomes its keyed hash,
    anything else is returned as given (stripped)."""
    text = str(query or "").strip()
    norm = normalize_id_card(text)
    if secret is not None and (_ID18.fullmatch(norm) or _ID15.fullmatch(norm)):
        return hash_id_card(norm, secret)
    return text


SEARCH_COLUMNS = [C.CADRE_ID, C.NAME, C.ID_MASKED, C.UNIT, C.JOB_TITLE, C.RANK]


def search_cadres(
    cadres: pd.DataFrame, text: object, *, limit: int = 20, secret: bytes | str | None = None
) -> pd.DataFrame:
    """Cadres matching what staff typed: a full 身份证号 (with ``secret``), an exact id, an
    exact 姓名, part of a name, part of a unit, or the masked id's visible digits.

    Exact matches first, then name matches, then unit matches; at most ``limit`` rows with
    :data:`SEARCH_COLUMNS` (no column ever holds a full 身份证号).
    """
    cols = [c for c in SEARCH_COLUMNS if c in cadres]
    query = unicodedata.normalize("NFKC", str(text or "")).strip()
    if not query or len(cadres) == 0:
        return pd.DataFrame(columns=SEARCH_COLUMNS)
    found = find_cadre(cadres, query, secret)

    def col(name: str) -> pd.Series:
        if name not in cadres:
            return pd.Series([""] * len(cadres), index=cadres.index)
        return cadres[name].fillna("").astype(str).map(lambda s: unicodedata.normalize("NFKC", s))

    words = query.split()
    score = pd.Series(0, index=cadres.index)
    if found is not None:
        score[cadres[C.CADRE_ID].astype(str) == found] = 100
    name, unit, masked = col(C.NAME), col(C.UNIT), col(C.ID_MASKED)
    score[name == query] = score.clip(lower=50)[name == query]
    every = pd.Series(True, index=cadres.index)
    for w in words:
        every &= name.str.contains(w, regex=False) | unit.str.contains(w, regex=False)
    score[every & (score < 30) & name.str.contains(words[0], regex=False)] = 30
    score[every & (score < 10)] = 10
    digits = query.replace("*", "")
    if len(digits) >= 4 and digits.isdigit():
        tail = masked.str.endswith(digits[-4:]) | masked.str.startswith(digits[:4])
        score[tail & (score < 5)] = 5
    hits = cadres.loc[score > 0, cols].assign(_s=score[score > 0])
    hits = hits.sort_values("_s", ascending=False, kind="stable").drop(columns="_s")
    return hits.head(limit).reset_index(drop=True)
