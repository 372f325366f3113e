"""Completion events posted by portals, kept in an embedded SQLite store (WAL).

Events are written (and fsynced) before the caller acknowledges them, are
idempotent by ``event_id`` (given by the portal, or derived from the content),
change a cadre's recommendations at once (the model reads them per request) and
are folded into the training data at the next ``train``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from recommender.data.schema import COMPLETIONS
from recommender.data.schema import Columns as C

EVENT_COLUMNS = COMPLETIONS.columns
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    {", ".join(f"{c} TEXT" for c in EVENT_COLUMNS)},
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS events_cadre ON events (cadre_id);
"""


def event_id(event: Mapping[str, Any]) -> str:
    """The portal's id if given, else a content hash (so a resent event is a duplicate)."""
    given = event.get("event_id")
    if given:
        return str(given)
    key = "\x1f".join(str(event.get(c) if event.get(c) is not None else "") for c in EVENT_COLUMNS)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


class EventStore:
    """Append-only SQLite store of completion events; safe across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with closing(self._connect()) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA busy_timeout=30000")
        return con

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
        return con

    def add(self, events: Iterable[Mapping[str, Any]]) -> list[tuple[str, bool]]:
        """Store events in one transaction; returns (event_id, newly_stored) per event."""
        rows = [(event_id(e), *[_text(e.get(c)) for c in EVENT_COLUMNS]) for e in events]
        con = self._con()
        out = []
        con.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                cur = con.execute(
                    f"INSERT OR IGNORE INTO events (event_id, {', '.join(EVENT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * (len(EVENT_COLUMNS) + 1))})",
                    row,
                )
                out.append((row[0], cur.rowcount == 1))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return out

    def _frame(self, where: str = "", params: tuple = ()) -> pd.DataFrame | None:
        cur = self._con().execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events {where} ORDER BY rowid", params
        )
        rows = cur.fetchall()
        if not rows:
            return None
        frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
        for col in (C.ENROLLED_AT, C.COMPLETED_AT):
            frame[col] = pd.to_datetime(frame[col], errors="coerce", utc=True).dt.tz_localize(None)
        for col in (C.PROGRESS, C.CREDIT_HOURS_AWARDED, C.RATING):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        return frame

    def for_cadre(self, cadre_id: str) -> pd.DataFrame | None:
        """This cadre's events as a completions frame (contract columns); None if none.

        Most requests are for cadres with no new events, so that case skips pandas.
        """
        return self._frame("WHERE cadre_id = ?", (str(cadre_id),))

    def to_frame(self) -> pd.DataFrame:
        """All events as a completions frame (empty frame if none)."""
        frame = self._frame()
        return frame if frame is not None else pd.DataFrame(columns=EVENT_COLUMNS)

    def count(self) -> int:
        return int(self._con().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def backup(self, dest: str | Path) -> Path:
        """Consistent online copy (SQLite backup API) — safe while the service writes."""
        dest = Path(dest)
        with closing(sqlite3.connect(dest)) as target:
            self._con().backup(target)
        return dest


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)
