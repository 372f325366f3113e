"""Chinese text pipeline: normalisation and a picklable jieba tokenizer.

Course blurbs and cadre job profiles mix traditional and simplified characters,
full-width Latin letters and digits, and cadre-training jargon (乡村振兴, 党风廉政,
劳动人事争议仲裁 …) that jieba's general dictionary splits apart. This module
normalises text to one form and cuts it with a private ``jieba.Tokenizer`` that
knows the domain dictionary shipped in ``recommender/resources``.

Nothing happens at import time: the OpenCC converter, the dictionaries and the
jieba instance are all built on first use. jieba's global tokenizer (``jieba.dt``)
is never touched.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import jieba

logger = logging.getLogger(__name__)

DOMAIN_DICT = "domain_dict.txt"
STOPWORDS = "stopwords.txt"
#: jieba frequency given to user terms (at least; raised if needed to keep a term whole).
#: The same value is written next to every packaged term in domain_dict.txt.
DEFAULT_FREQ = 3000
DEFAULT_TAG = "nz"
#: single CJK characters that carry a topic on their own (党管干部 → 党, 干部); every other
#: one-character CJK token is dropped as noise. ASCII letters and digits are always kept.
SINGLE_CHAR_KEEP = frozenset("党法廉税警农林牧渔粮水医药矿史诗书画礼德军村镇乡疫灾汛")

_WHITESPACE = re.compile(r"\s+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# Serialises jieba initialisation and the temporary quieting of jieba's logger.
_INIT_LOCK = threading.Lock()
_CONVERTER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _prefix_dict() -> tuple[dict[str, int], int]:
    """jieba's general prefix dictionary, read once per process and copied by each tokenizer.

    Reading it (``marshal.load`` of jieba's cache) holds the GIL for ~0.8 s: done for every
    model loaded, it stalled every request while a service reloaded.
    """
    import jieba

    jieba_logger = logging.getLogger("jieba")
    level = jieba_logger.level
    jieba_logger.setLevel(max(level, logging.WARNING))
    try:
        base = jieba.Tokenizer()
        cache = jieba_cache_dir()
        if cache is None:  # no private place for a cache: build from the dictionary itself
            base.FREQ, base.total = base.gen_pfdict(base.get_dict_file())
            base.initialized = True
        else:  # never jieba's default $TMPDIR/jieba.cache, which any local user can plant
            base.tmp_dir = str(cache)
            base.cache_file = f"jieba-{jieba.__version__}.cache"
            base.initialize()
    finally:
        jieba_logger.setLevel(level)
    return base.FREQ, base.total


def jieba_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The private (0700, ours) directory for jieba's dictionary cache, or None if there is
    none to be had (the dictionary is then read without a cache, ~1 s more per process).

    ``$XUANXUE_CACHE_DIR``, else ``$XDG_CACHE_HOME/xuanxue``, else ``~/.cache/xuanxue``.
    A poisoned cache changed a signed model's answers; one we cannot trust is not read.
    """
    from recommender.data.safe_write import private_dir

    env = os.environ if environ is None else environ
    if env.get("XUANXUE_CACHE_DIR"):
        path = Path(env["XUANXUE_CACHE_DIR"]).expanduser()
    else:
        base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "xuanxue"
    try:
        return private_dir(path)
    except OSError as exc:
        logger.warning("jieba dictionary cache disabled: %s", exc)
        return None


class DictionaryFormatError(ValueError):
    """A line of a packaged dictionary does not read as ``word [freq] [tag]``."""


#: cached conversions of text pieces (OpenCC converts the pieces between its separators
#: one by one, so a piece converts the same wherever it appears)
T2S_PIECE_CACHE = 1 << 17


@lru_cache(maxsize=1)
def _build_t2s() -> Callable[[str], str]:
    from opencc import OpenCC  # deferred: loads its dictionaries on construction

    cc = OpenCC("t2s")
    convert = cc.convert
    split = getattr(getattr(cc, "split_chars_re", None), "split", None)
    if split is None:  # another OpenCC binding: no known separators, convert whole texts
        return convert
    # opencc-python-reimplemented splits a text at its separators and converts every piece
    # on its own (~0.15 ms per profile in pure Python); the pieces repeat across profiles
    # (从事基层社会治理 …), so each distinct piece is converted once. Same output by construction.
    piece = lru_cache(maxsize=T2S_PIECE_CACHE)(convert)
    convert("")  # loads the dictionaries now (its constructor does not mark them loaded)

    def t2s(text: str) -> str:
        parts = split(text)
        parts[0::2] = [piece(p) if p else p for p in parts[0::2]]
        return "".join(parts)

    return t2s


def _t2s() -> Callable[[str], str]:
    """The OpenCC traditional → simplified converter, built once on first use."""
    with _CONVERTER_LOCK:  # lru_cache alone may build twice under a race
        return _build_t2s()


def _is_missing(value: object) -> bool:
    """True for None, NaN, NaT and pandas.NA (without importing pandas)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA refuses bool()
        return True
    except ValueError:  # array-like: not a missing scalar
        return False


def normalize_text(text: Any) -> str:
    """One canonical form: 繁→简, NFKC (full-width → half-width), lowercase, single spaces.

    None and NaN become ''; other non-strings are converted with ``str``.
    """
    if _is_missing(text):
        return ""
    text = text if isinstance(text, str) else str(text)
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    if not text.isascii():
        text = _t2s()(text)
    return _WHITESPACE.sub(" ", text.lower()).strip()


def _resource_lines(name: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of a packaged resource, comments and blanks skipped."""
    raw = files("recommender").joinpath("resources", name).read_text(encoding="utf-8")
    rows = ((i, line.strip()) for i, line in enumerate(raw.splitlines(), start=1))
    return [(i, line) for i, line in rows if line and not line.startswith("#")]


@lru_cache(maxsize=1)
def _domain_entries() -> tuple[tuple[str, int, str], ...]:
    """Packaged domain dictionary as (word, freq, tag), validated once."""
    entries = []
    for lineno, line in _resource_lines(DOMAIN_DICT):
        parts = line.split()
        if len(parts) > 3 or (len(parts) > 1 and not parts[1].isdigit()):
            raise DictionaryFormatError(
                f"{DOMAIN_DICT} line {lineno}: expected 'word [freq] [tag]', found {line!r}"
            )
        freq = int(parts[1]) if len(parts) > 1 else DEFAULT_FREQ
        tag = parts[2] if len(parts) > 2 else DEFAULT_TAG
        entries.append((parts[0], freq, tag))
    return tuple(entries)


def domain_terms() -> list[str]:
    """The packaged domain terms (乡村振兴, 基层治理 …) in file order."""
    return [word for word, _, _ in _domain_entries()]


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The packaged stopwords, normalised like the text they are matched against."""
    return frozenset(normalize_text(line) for _, line in _resource_lines(STOPWORDS))


def _is_noise(token: str) -> bool:
    """Whitespace, punctuation, symbols (emoji) or control characters only."""
    return all(unicodedata.category(ch)[0] in "PSZC" for ch in token)


#: cut blocks remembered per tokenizer (cleared when full)
BLOCK_CACHE = 1 << 17


@lru_cache(maxsize=1)
def _block_splitter() -> Callable[[str], list[str]]:
    import jieba

    return jieba.re_han_default.split


def _split_blocks(text: str) -> list[str]:
    """The runs jieba's ``cut`` handles one at a time (its own ``re_han_default`` split).

    ``cut`` splits a text at runs of CJK/Latin/digits and cuts every run without looking at
    its neighbours, so cutting the runs separately gives the same tokens in the same order;
    runs repeat across profiles and course blurbs, so each distinct run is cut once.
    """
    return _block_splitter()(text)


class ChineseTokenizer:
    """Normalise and cut Chinese text into content tokens; callable and picklable.

    Parameters
    ----------
    user_terms
        Extra terms kept whole (normalised like the text), on top of the domain dictionary.
    use_domain_dict
        Load the packaged domain dictionary (``domain_terms()``).
    use_stopwords
        Drop the packaged stopwords (``stopwords()``).
    hmm
        Let jieba's HMM glue unknown character runs into words (off: it invents words).

    Notes
    -----
    Each instance owns a private ``jieba.Tokenizer``, built on first call from a copy of
    jieba's prefix dictionary (read once per process, ~1 s the first time) and never pickled: an
    unpickled or deep-copied tokenizer rebuilds it when first used. While building, jieba's
    own logger (which prints "Building prefix dict…" to stderr at DEBUG) is raised to WARNING
    and restored afterwards; the build is serialised by a module lock, so concurrent first
    calls from several threads build once and then cut in parallel.
    """

    def __init__(
        self,
        *,
        user_terms: Iterable[str] = (),
        use_domain_dict: bool = True,
        use_stopwords: bool = True,
        hmm: bool = False,
    ) -> None:
        terms = []
        for term in user_terms:
            norm = normalize_text(term)
            if not norm or " " in norm:
                raise ValueError(f"user term {term!r} is empty or contains whitespace")
            terms.append(norm)
        self.user_terms = tuple(dict.fromkeys(terms))
        self.use_domain_dict = use_domain_dict
        self.use_stopwords = use_stopwords
        self.hmm = hmm
        self._jieba: jieba.Tokenizer | None = None
        self._blocks: dict[str, tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"ChineseTokenizer(user_terms={self.user_terms!r}, "
            f"use_domain_dict={self.use_domain_dict}, use_stopwords={self.use_stopwords}, "
            f"hmm={self.hmm})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_jieba"] = None  # jieba's tokenizer holds a lock; rebuilt on first use
        state.pop("_blocks", None)  # a cache, not state
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._jieba = None
        self._blocks = {}

    def warm_up(self) -> ChineseTokenizer:
        """Build the jieba instance now (e.g. at service start) rather than on first call."""
        self._tokenizer()
        return self

    def _tokenizer(self) -> jieba.Tokenizer:
        tk = self._jieba
        if tk is None:
            with _INIT_LOCK:
                if self._jieba is None:
                    self._jieba = self._build()
                tk = self._jieba
        return tk

    def _build(self) -> jieba.Tokenizer:
        """A fresh jieba.Tokenizer with the domain dictionary and user terms added."""
        import jieba  # deferred: importing it costs ~0.25 s (pkg_resources)

        start = time.perf_counter()
        tk = jieba.Tokenizer()
        freq, total = _prefix_dict()
        tk.FREQ, tk.total, tk.initialized = dict(freq), total, True  # private copy: ~15 ms
        if self.use_domain_dict:
            for word, freq, tag in _domain_entries():
                tk.add_word(word, freq, tag)
        for term in self.user_terms:
            tk.add_word(term, max(DEFAULT_FREQ, tk.suggest_freq(term)), DEFAULT_TAG)
        logger.debug(
            "jieba tokenizer built in %.2fs (domain dict: %s, %d user terms)",
            time.perf_counter() - start,
            self.use_domain_dict,
            len(self.user_terms),
        )
        return tk

    def __call__(self, text: Any) -> list[str]:
        """Content tokens of ``text`` in order; [] for empty, None or NaN."""
        return self.cut_normalized(normalize_text(text))

    def cut_normalized(self, text: str) -> list[str]:
        """Content tokens of a text :func:`normalize_text` gave (``self(t)`` is
        ``self.cut_normalized(normalize_text(t))``: training normalises a profile once for
        its tokens and its fields of work)."""
        if not text:
            return []
        blocks = self._blocks
        out: list[str] = []
        for block in _split_blocks(text):
            if not block:
                continue
            toks = blocks.get(block)
            if toks is None:
                toks = self._cut_block(block)
                if len(blocks) >= BLOCK_CACHE:
                    blocks.clear()
                blocks[block] = toks
            out.extend(toks)
        return out

    def _cut_block(self, block: str) -> tuple[str, ...]:
        """Content tokens of one block (a run jieba cuts on its own, see ``_split_blocks``)."""
        stop = stopwords() if self.use_stopwords else frozenset()
        return tuple(
            tok
            for tok in self._tokenizer().cut(block, HMM=self.hmm)
            if tok not in stop and self._keep(tok)
        )

    @staticmethod
    def _keep(token: str) -> bool:
        if _is_noise(token):
            return False
        if len(token) == 1 and not token.isascii():
            return token in SINGLE_CHAR_KEEP
        return True
