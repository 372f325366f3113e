"""The 身份证号 in a file, however it was typed, and where any of them shows in plain text.

A file's numbers are read from every text the file holds (CSV in any encoding, the XML
parts of an .xlsx, an HTML page, and the cells as python-calamine reads them, number cells
as digits), after NFKC (full-width digits), without zero-width characters, and once more
without whitespace (``429125 19681213 6066``). A number "shows" in an output when its first
15 digits do, or its other-length form does (the 15-digit form of an 18-digit number and
the first 15 digits of a 15-digit number's 18-digit form); ``4.29125196812136E+17`` counts
(the point is dropped before searching).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_REGION = r"(?<![0-9.])[1-9][0-9]{5}"  # not the digits after 4.
ID18 = re.compile(rf"{_REGION}(?:18|19|20)[0-9]{{2}}{_DATE}[0-9]{{3}}[0-9Xx](?![0-9])")
ID15 = re.compile(rf"{_REGION}[0-9]{{2}}{_DATE}[0-9]{{3}}(?![0-9])")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_RUN = re.compile(r"[0-9]{15,}")


def texts(data: bytes) -> list[str]:
    """The text a file's bytes can hold: its zip parts, UTF-16, UTF-8, GB18030."""
    if data[:4] == b"PK\x03\x04":
        out = []
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                out += texts(z.read(name))
        return out
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return [data.decode("utf-16", "ignore")]
    return [data.decode("utf-8", "ignore"), data.decode("gb18030", "ignore")]


def cell_text(path: Path) -> str:
    """Every cell of every sheet as python-calamine reads it; number cells as whole digits."""
    try:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(path))
        parts = []
        for name in book.sheet_names:
            for row in book.get_sheet_by_name(name).to_python():
                for v in row:
                    big = isinstance(v, int | float) and abs(v) >= 1e13
                    # the shortest decimal of the double, as Excel shows it: 4.29125196605311E+17
                    # is 429125196605311000, not the binary value's …310976
                    parts.append(str(int(Decimal(repr(float(v))))) if big else str(v))
        return "\n".join(parts)
    except Exception:  # not a workbook python-calamine reads (a CSV, an HTML .xls)
        return ""


def normalise(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return [text, re.sub(r"\s+", "", text)]


def ids_in(path: Path) -> set[str]:
    """The 18- and 15-digit 身份证号 in a file (upper-case X)."""
    found: set[str] = set()
    for text in [*texts(path.read_bytes()), cell_text(path)]:
        for t in normalise(text):
            found.update(m.upper() for m in ID18.findall(t))
            found.update(ID15.findall(t))
    return found


def telltales(ids: Iterable[str]) -> dict[str, str]:
    """15-digit strings whose appearance in an output shows a number → the number."""
    out: dict[str, str] = {}
    for n in ids:
        if len(n) == 18:
            out[n[:15]] = n
            out[n[:6] + n[8:17]] = n
        else:
            out[n] = n
            out[n[:6] + "19" + n[6:13]] = n
    return out


def shown(tells: dict[str, str], outputs: Iterable[str]) -> set[str]:
    """The numbers of ``tells`` whose telltale appears in any of ``outputs``."""
    hits: set[str] = set()
    for text in outputs:
        for t in normalise(text.replace(".", "")):
            for run in _RUN.findall(t):
                hits.update(
                    tells[w] for i in range(len(run) - 14) if (w := run[i : i + 15]) in tells
                )
    return hits


def masked(n: str) -> str:
    """How a number is printed in this benchmark's own report."""
    return n[:4] + "*" * (len(n) - 8) + n[-4:]
