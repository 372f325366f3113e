"""MkDocs hook: fills the column tables of the data page from the data contract.

A page writes ``<!-- columns: courses -->`` (or cadres, completions, bools) where the table
goes; the table is generated at build time, so it always matches the loader.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from columns import TABLES, bool_spellings, columns_markdown

_MARK = re.compile(r"<!--\s*columns:\s*(\w+)\s*-->")


def _table(match: re.Match) -> str:
    name = match.group(1)
    if name == "bools":
        return bool_spellings()
    if name not in TABLES:
        raise ValueError(f"unknown table in {match.group(0)}")
    return columns_markdown(name)


def on_page_markdown(markdown: str, **_: object) -> str:
    return _MARK.sub(_table, markdown)
