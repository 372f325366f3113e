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
_SCIENTIFIC = re.compile(r"(\d)(?:\.(\d+))?([Ee]\+?1[4-7])")
_ROUNDED = re.compile(r"\d{15,18}(\.0+)?")
#: a platform's mask of the number (429125********3272): nothing left to match on
_MASKED = re.compile(r"[\dX]{0,8}\*{4,}[\dX]{0,8}")
#: a run of digits long enough to be (most of) a 身份证号, wherever it appears in a message
_LONG_DIGITS = re.compile(r"\d{12,}[\dX]?|\d(?:\.\d+)?E\+?1[4-7]")
#: quotes around a cell, and those of Excel's text formula ="…" (kept as text in CSV)
_QUOTES = "'\"`‘’“”"
#: a column Excel saved as 数值 keeps 15 digits and ends every number in 000; by chance about
#: one id in 1,000 does. At least this many cells, and this share of the numeric ids, ending
#: in 000 mark the column (and every id of it ending in 000) as zeroed by Excel.
ZEROED_MIN_CELLS = 3
ZEROED_MIN_SHARE = 0.2


class IdentityError(ValueError):
    """The identity secret is missing, too short or unreadable."""


def normalize_id_card(text: object) -> str:
    """'４２９１２５…x ' → '429125…X': full-width digits, spaces, quotes, a small x and
    Excel's text formula (``="429125…"``, how platforms keep the number text in a CSV) fixed."""
    t = unicodedata.normalize("NFKC", str(text or ""))
    t = "".join(t.split())
    if len(t) > 1 and t[0] == "=" and t[1] in _QUOTES:
        t = t[1:]
    return t.strip(_QUOTES).upper()


def canonical_id_card(text: object) -> str:
    """:func:`normalize_id_card`, and a 15-digit (first-generation) number as its 18-digit
    form: '19' after the 6-digit region, the GB 11643 check character appended — so either
    form of one person's number is the same number (one hash, one mask)."""
    t = normalize_id_card(text)
    if _ID15.fullmatch(t):
        body = t[:6] + "19" + t[6:]
        return body + id_checksum(body)
    return t


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
    message: its last digits are lost and no one can restore them from the file. So has a
    number the platform masked (429125********3272). Every message shows the value masked.
    """
    t = normalize_id_card(text)
    if _SCIENTIFIC.fullmatch(t):
        return (
            f"身份证号被 Excel 转成了科学计数法（{mask_id_card(t)}），后几位已丢失，无法还原；"
            "请在导出或打开文件时把该列设为“文本”后重新导出",
            "id_mangled_by_excel",
        )
    if _MASKED.fullmatch(t):
        return (masked_reason(t), "bad_id_card")
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


def masked_reason(masked: str, *, roster: bool = False) -> str:
    """Why a number masked by the platform (429125********3272) cannot be used: in records
    (it matches no roster row) or in the roster itself (``roster``)."""
    if roster:
        return (
            f"身份证号已脱敏（{mask_id_card(masked)}），无法据此识别干部；"
            "请导出完整号码，或在干部表中加入干部编号"
        )
    return (
        f"身份证号已被导出平台脱敏（{mask_id_card(masked)}），无法与干部表匹配；"
        "请让平台导出完整号码，或导出与干部表一致的“用户编号”（干部编号）"
    )


def zeroed_reason(number: str) -> str:
    """Why an id of a column Excel saved as 数值 (…000) cannot be used (shown masked)."""
    return (
        f"身份证号（{mask_id_card(number)}）被 Excel 按数值保存，后三位变成了 000，无法还原；"
        "请把该列设为文本后重新导出"
    )


def zeroed_by_excel(norm: pd.Series) -> np.ndarray:
    """Cells of a column Excel saved as 数值: when far more of its all-digit 18-character ids
    end in 000 than chance gives (:data:`ZEROED_MIN_CELLS`, :data:`ZEROED_MIN_SHARE`), every
    id of it ending in 000 (its last three digits are lost, even where the check digit fits)."""
    t = norm.astype(str)
    digits = t.str.fullmatch(r"\d{18}").to_numpy(bool)
    zeros = digits & t.str.endswith("000").to_numpy(bool)
    n = int(zeros.sum())
    if n >= ZEROED_MIN_CELLS and n >= ZEROED_MIN_SHARE * int(digits.sum()):
        return zeros
    return np.zeros(len(t), bool)


def mask_id_card(text: object) -> str:
    """'429125197710213272' → '4291**********3272' (first 4, last 4; short values mostly
    starred too). The display form for pages, workbooks and messages."""
    t = normalize_id_card(text)
    if sci := _SCIENTIFIC.fullmatch(t):  # 4.29125199508267E+17 → 4.291***…E+17
        shown = sci[2] or ""
        return f"{sci[1]}.{shown[:3]}{'*' * max(len(shown) - 3, 0)}{sci[3]}"
    if len(t) >= 12:
        return t[:4] + "*" * (len(t) - 8) + t[-4:]
    if len(t) > 4:
        return t[:2] + "*" * (len(t) - 4) + t[-2:]
    return "*" * len(t)


def holds_id_cards(values: pd.Series) -> bool:
    """True when most filled cells (of the first 2,000 rows) of an id column (干部编号, 用户名,
    账号) are 身份证号 — 12 or
    more digits, or Excel's 4.29E+17 — as platforms that log cadres in by their number export
    it: such a column is read as the 身份证号 (hashed, never kept in plain)."""
    text = values.iloc[:2000].astype(str).str.strip()  # the first rows tell (cheap on 2M)
    text = text[text != ""]
    if not len(text):
        return False
    looks = text.map(lambda t: bool(_LONG_DIGITS.search(normalize_id_card(t))))
    return bool(looks.mean() >= 0.5)


def shown_id(text: object, limit: int = 64, *, quoted: bool = True) -> str:
    """A typed id for a message: masked when it looks like (most of) a 身份证号 — 12 or more
    digits, or Excel's 4.29E+17 — even a mistyped one of 17 or 19 digits; else as typed
    (at most ``limit`` characters; quoted like ``repr`` unless ``quoted`` is false)."""
    raw = str(text or "").strip()
    shown = mask_id_card(raw) if _LONG_DIGITS.search(normalize_id_card(raw)) else raw[:limit]
    return repr(shown) if quoted else shown


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_CHARS:
        raise IdentityError(f"身份标识密钥过短（至少 {MIN_SECRET_CHARS} 个字符）")
    return key


def hash_id_card(text: object, secret: bytes | str) -> str:
    """The keyed hash a 身份证号 is known by: ``pid_`` + 24 hex digits (96 bits).

    Normalised first, so '42…x' and '42…X' (or full-width digits, or the 15-digit form of the
    same number) give one id.
    """
    digest = hmac.new(_key(secret), _DOMAIN + canonical_id_card(text).encode(), hashlib.sha256)
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

    A 15-digit number is hashed and masked in its 18-digit form. Cells masked by a platform
    or a re-validated frame (``4291**********3099``) get no hash; they get a reason only when
    the mask is all the row has to go on (see :func:`recommender.data.export_steps.identity`).
    Invalid cells, and the …000 ids of a column Excel saved as 数值 (:func:`zeroed_by_excel`),
    get '' and a reason. ``secret`` None: no hashes (''), masks only.
    """
    norm = ids.map(canonical_id_card)
    masked = norm.map(lambda t: t if "*" in t else mask_id_card(t) if t else "")
    problems: dict[int, tuple[str, str]] = {}
    ok = np.ones(len(norm), bool)
    zeroed = zeroed_by_excel(norm)
    for i, t in enumerate(norm):
        if not t or "*" in t:
            ok[i] = False
        elif zeroed[i]:
            problems[i] = (zeroed_reason(t), "id_mangled_by_excel")
            ok[i] = False
        elif why := id_card_problem(t):
            problems[i] = why
            ok[i] = False
    valid = norm.where(ok, "")
    hashed = hash_id_cards(valid, secret) if secret is not None else valid.map(lambda _: "")
    return hashed.astype(str), masked.astype(str), problems


def birth_facts(ids: pd.Series, today: dt.date | None = None) -> tuple[pd.Series, pd.Series]:
    """(age in whole years, '男'/'女') read from 18-digit 身份证号 cells (-1 / '' when not).

    Only these two facts leave the number (for 年轻干部 and 女干部 audiences)."""
    today = today or dt.date.today()

    def one(text: str) -> tuple[int, str]:
        t = canonical_id_card(text)
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


def bad_checksums(raw: pd.Series) -> int:
    """How many 18-digit cells fail the check character (kept, but worth a warning).

    Give it the numbers as read, before masking (a mask has no check character to test)."""
    t = raw.map(normalize_id_card)
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
    if hit.empty:  # a code typed with full-width letters (ＱＳ…) is the same code
        hit = ids[ids == unicodedata.normalize("NFKC", text)]
    return str(hit.iloc[0]) if len(hit) else None


def cadre_key(query: object, secret: bytes | str | None) -> str:
    """The id to use in a URL or a query for ``query``: a 身份证号 becomes its keyed hash,
    anything else is returned as given (stripped, NFKC: ids are loaded so, ＱＳ1 → QS1)."""
    text = str(query or "").strip()
    norm = normalize_id_card(text)
    if secret is not None and (_ID18.fullmatch(norm) or _ID15.fullmatch(norm)):
        return hash_id_card(norm, secret)
    return unicodedata.normalize("NFKC", text)


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
