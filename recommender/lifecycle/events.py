"""Completion events posted by portals: one contract, two stores (SQLite, PostgreSQL).

Every store writes events durably (fsync / synchronous commit) before ``add`` returns, is
idempotent by ``event_id`` (given by the portal, or derived from the content) and applies the
same rules, so the CLI and the service agree:

- an ``event_id`` resent with the same content is a harmless duplicate; with different
  content it is refused with :class:`EventConflictError` (nothing of the batch is stored);
- ``enrolled_at`` is required; no time before 2000-01-01, none in the future beyond a small
  clock-skew allowance, ``completed_at`` not before ``enrolled_at`` — else
  :class:`EventValidationError` naming the event and the field.

Events change a cadre's recommendations at once (``for_cadre`` returns the cadre's most
recent ``history_limit`` events, read per request) and are folded into the training data at
the next ``train``. :func:`open_event_store` picks the backend from a URL or a path:
``postgresql://…`` → :class:`~recommender.lifecycle.events_pg.PgEventStore` (many replicas),
``sqlite:///PATH`` or a plain path → :class:`EventStore` (embedded, the default).
"""

from __future__ import annotations

import hashlib
import importlib
import math
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from recommender.data.safe_write import create_private_file
from recommender.data.schema import COMPLETIONS
from recommender.data.schema import Columns as C

EVENT_COLUMNS = COMPLETIONS.columns
TIME_COLUMNS = (C.ENROLLED_AT, C.COMPLETED_AT)
EARLIEST = datetime(2000, 1, 1)
CLOCK_SKEW = timedelta(minutes=15)
HISTORY_LIMIT = 500
_FIELDS = {f.name: f for f in COMPLETIONS.fields}

Row = tuple[Any, ...]  # (event_id, *EVENT_COLUMNS) with canonical Python values


# ----------------------------------------------------------------------------- errors
class EventError(ValueError):
    """Base of the event store's refusals."""


class EventValidationError(EventError):
    """Events that break the rules; ``problems`` holds ``{index, field, message, code}``."""

    def __init__(self, problems: Sequence[Mapping[str, Any]]) -> None:
        self.problems = [dict(p) for p in problems]
        where = "；".join(f"第 {p['index']} 条 {p['field']}：{p['message']}" for p in problems[:5])
        super().__init__(f"事件未保存（invalid_event）：{where}")


class EventConflictError(EventError):
    """An ``event_id`` already stored (or sent twice) with different content.

    ``conflicts`` holds ``{index, event_id, fields}``: the fields whose values differ.
    """

    def __init__(self, conflicts: Sequence[Mapping[str, Any]]) -> None:
        self.conflicts = [dict(c) for c in conflicts]
        where = "；".join(
            f"第 {c['index']} 条 event_id={c['event_id']!r} 的 {', '.join(c['fields'])} "
            "与已保存的不同"
            for c in conflicts[:5]
        )
        super().__init__(f"事件编号冲突（event_conflict），整批未保存：{where}")


class EventStoreUnavailable(EventError):
    """The store cannot be reached (database down, pool exhausted): retry later."""


class SchemaVersionError(EventError):
    """The store's schema is newer than this code knows (run the newer xuanxue)."""


# ------------------------------------------------------------------------------ rules
def event_id(event: Mapping[str, Any]) -> str:
    """The portal's id if given, else a content hash (so a resent event is a duplicate)."""
    given = event.get("event_id")
    if given:
        return str(given)
    key = "\x1f".join(_text(_canon(c, event.get(c))) or "" for c in EVENT_COLUMNS)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def validate_events(
    events: Iterable[Mapping[str, Any]],
    *,
    now: datetime | None = None,
    clock_skew: timedelta = CLOCK_SKEW,
) -> list[Row]:
    """Canonical rows ``(event_id, *EVENT_COLUMNS)``; raises :class:`EventValidationError`
    listing every broken rule of the batch (naive times are local, like ``now``)."""
    now = now or datetime.now()
    rows, problems = [], []
    for i, event in enumerate(events):
        values: dict[str, Any] = {}
        for col in EVENT_COLUMNS:
            try:
                values[col] = _canon(col, event.get(col))
            except (TypeError, ValueError):
                problems.append(_problem(i, col, f"无法解析的值（{_FIELDS[col].kind}）", "type"))
                values[col] = None
        problems += _check(i, values, now, clock_skew)
        rows.append((event_id({**event, **values}), *values.values()))
    if problems:
        raise EventValidationError(problems)
    return rows


def _check(i: int, v: dict[str, Any], now: datetime, skew: timedelta) -> list[dict]:
    out = []
    for col in (C.CADRE_ID, C.COURSE_ID, C.ENROLLED_AT):
        if v[col] is None or v[col] == "":
            out.append(_problem(i, col, "必填", "missing"))
    for col in TIME_COLUMNS:
        when = v[col]
        if when is not None and when < EARLIEST:
            out.append(_problem(i, col, "早于 2000-01-01", "too_early"))
        elif when is not None and when > now + skew:
            out.append(_problem(i, col, "晚于当前时间（in the future）", "in_future"))
    enrolled, completed = v[C.ENROLLED_AT], v[C.COMPLETED_AT]
    if enrolled is not None and completed is not None and completed < enrolled:
        out.append(_problem(i, C.COMPLETED_AT, "早于 enrolled_at（报名时间）", "before_enrolled"))
    for col in (C.PROGRESS, C.CREDIT_HOURS_AWARDED, C.RATING):
        f, x = _FIELDS[col], v[col]
        if x is not None and not (f.min <= x <= f.max):
            out.append(_problem(i, col, f"应在 {f.min:g}–{f.max:g} 之间", "out_of_range"))
    return out


def _problem(index: int, field: str, message: str, code: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message, "code": code}


def _canon(col: str, value: Any) -> Any:
    """One Python value per meaning: times naive datetimes, numbers float/int, text str."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    kind = _FIELDS[col].kind
    if kind == "datetime":
        if isinstance(value, str):
            if not value.strip():
                return None
            value = datetime.fromisoformat(value.strip())
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        elif not isinstance(value, datetime):
            raise TypeError(type(value).__name__)
        if value.tzinfo is not None:
            value = value.astimezone().replace(tzinfo=None)
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    if kind == "float":
        return float(value)
    if kind == "int":
        number = float(value)
        if number != int(number):
            raise ValueError(value)
        return int(number)
    return str(value)


def _text(value: Any) -> str | None:
    """How a canonical value is written (SQLite) and compared (both stores)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def conflicting_fields(new: Row, stored: Row) -> list[str]:
    """Contract columns whose canonical values differ between two rows of one event_id."""
    return [
        col
        for col, a, b in zip(EVENT_COLUMNS, new[1:], stored[1:], strict=True)
        if _text(_canon(col, a)) != _text(_canon(col, b))
    ]


# ------------------------------------------------------------------------------ stores
class BaseEventStore(ABC):
    """The event-store contract; a backend implements ``_insert`` and the reads.

    ``add`` validates, resolves duplicates inside the batch, then lets the backend insert the
    new ids in one transaction and hand back the rows already stored under the other ids;
    a differing one aborts that transaction (:class:`EventConflictError`).
    """

    backend = "abstract"

    def __init__(
        self, *, history_limit: int = HISTORY_LIMIT, clock_skew: timedelta = CLOCK_SKEW
    ) -> None:
        self.history_limit = history_limit
        self.clock_skew = clock_skew

    def add(
        self, events: Iterable[Mapping[str, Any]], *, now: datetime | None = None
    ) -> list[tuple[str, bool]]:
        """Store events in one transaction; returns ``(event_id, newly_stored)`` per event.

        Durable when it returns. Raises :class:`EventValidationError` or
        :class:`EventConflictError` (then nothing of the batch is stored).
        """
        rows = validate_events(events, now=now, clock_skew=self.clock_skew)
        first: dict[str, int] = {}
        conflicts = []
        for i, row in enumerate(rows):
            j = first.setdefault(row[0], i)
            if j != i and (fields := conflicting_fields(row, rows[j])):
                conflicts.append({"index": i, "event_id": row[0], "fields": fields})
        if conflicts:
            raise EventConflictError(conflicts)
        unique = [rows[i] for i in first.values()]

        def check(existing: Mapping[str, Row]) -> None:
            found = [
                {"index": first[eid], "event_id": eid, "fields": fields}
                for eid, stored in existing.items()
                if (fields := conflicting_fields(rows[first[eid]], stored))
            ]
            if found:
                raise EventConflictError(sorted(found, key=lambda c: c["index"]))

        new_ids = self._insert(unique, check) if unique else set()
        return [(row[0], i == first[row[0]] and row[0] in new_ids) for i, row in enumerate(rows)]

    @abstractmethod
    def _insert(self, rows: list[Row], check) -> set[str]:
        """Insert rows with distinct ids in one transaction; call ``check(existing rows by
        id)`` before committing; return the ids newly stored."""

    @abstractmethod
    def _fetch(self, cadre_id: str | None, limit: int | None) -> list[Row]:
        """Rows ``(*EVENT_COLUMNS)``: one cadre's most recent ``limit`` (time order), or all."""

    @abstractmethod
    def count(self) -> int:
        """How many events are stored."""

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version the store is at."""

    # -------------------------------------------------- console sessions (shared by replicas)
    @abstractmethod
    def add_session(self, session_hash: str, who: str, key_hash: str, expires_at: datetime) -> None:
        """Store a sign-in: the SHA-256 of its random id (never the id), the key's name and
        hash, and when it ends (UTC). Sessions that ended a day ago are dropped."""

    @abstractmethod
    def session(self, session_hash: str, *, now: datetime | None = None) -> dict | None:
        """``{"who", "key_hash", "expires_at"}`` of a session neither revoked nor expired."""

    @abstractmethod
    def revoke_session(self, session_hash: str) -> bool:
        """End a session now (logout); True if it was active."""

    def for_cadre(self, cadre_id: str) -> pd.DataFrame | None:
        """This cadre's most recent ``history_limit`` events (by completion, else enrolment
        time; oldest first) as a completions frame; None if none.

        Older events count again once ``train`` has folded them into a model. Most requests
        are for cadres with no new events, so that case skips pandas.
        """
        return _frame(self._fetch(str(cadre_id), self.history_limit))

    def to_frame(self) -> pd.DataFrame:
        """All events as a completions frame (empty frame if none), in arrival order."""
        frame = _frame(self._fetch(None, None))
        return frame if frame is not None else pd.DataFrame(columns=EVENT_COLUMNS)

    def close(self) -> None:  # noqa: B027  (optional for backends)
        """Release connections (the store must not be used afterwards)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _frame(rows: list[Row]) -> pd.DataFrame | None:
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    for col in TIME_COLUMNS:
        frame[col] = pd.to_datetime(frame[col], errors="coerce", utc=True).dt.tz_localize(None)
    for col in (C.PROGRESS, C.CREDIT_HOURS_AWARDED, C.RATING):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


#: SQLite migrations: version → statements (version 1 is the original, unversioned layout)
_SQLITE_MIGRATIONS: dict[int, str] = {
    1: f"""
    CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        {", ".join(f"{c} TEXT" for c in EVENT_COLUMNS)},
        received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX IF NOT EXISTS events_cadre ON events (cadre_id);
    """,
    2: """
    CREATE INDEX IF NOT EXISTS events_cadre_time
        ON events (cadre_id, coalesce(completed_at, enrolled_at));
    """,
    3: """
    CREATE TABLE IF NOT EXISTS console_sessions (
        session_hash TEXT PRIMARY KEY,
        who TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
}
SQLITE_SCHEMA_VERSION = max(_SQLITE_MIGRATIONS)
_ORDER = "coalesce(completed_at, enrolled_at)"


class EventStore(BaseEventStore):
    """Append-only SQLite store (WAL, synchronous=FULL); safe across threads and processes."""

    backend = "sqlite"

    def __init__(self, path: str | Path, **options: Any) -> None:
        super().__init__(**options)
        self.path = Path(path)
        create_private_file(self.path)
        self._local = threading.local()
        with closing(self._connect()) as con:
            con.execute("PRAGMA journal_mode=WAL")
            self.migrated = self._migrate(con)  # (version before, after) this open

    def __repr__(self) -> str:
        return f"EventStore({str(self.path)!r})"

    @staticmethod
    def _migrate(con: sqlite3.Connection) -> tuple[int, int]:
        con.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            before = row[0] or 0
            if before > SQLITE_SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"事件库结构版本 {before} 比本程序支持的 {SQLITE_SCHEMA_VERSION} 新"
                    "（schema_too_new）：请升级 xuanxue"
                )
            for version in range(before + 1, SQLITE_SCHEMA_VERSION + 1):
                for statement in _SQLITE_MIGRATIONS[version].split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return before, SQLITE_SCHEMA_VERSION

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

    def _insert(self, rows: list[Row], check) -> set[str]:
        cols = ", ".join(EVENT_COLUMNS)
        marks = ", ".join("?" * (len(EVENT_COLUMNS) + 1))
        insert = f"INSERT OR IGNORE INTO events (event_id, {cols}) VALUES ({marks})"
        con = self._con()
        new, existing = set(), {}
        con.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                if con.execute(insert, [_text(v) for v in row]).rowcount == 1:
                    new.add(row[0])
                else:
                    existing[row[0]] = con.execute(
                        f"SELECT event_id, {cols} FROM events WHERE event_id = ?", (row[0],)
                    ).fetchone()
            check(existing)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return new

    def _fetch(self, cadre_id: str | None, limit: int | None) -> list[Row]:
        cols = ", ".join(EVENT_COLUMNS)
        if cadre_id is None:
            return self._con().execute(f"SELECT {cols} FROM events ORDER BY rowid").fetchall()
        rows = self._con().execute(
            f"SELECT {cols} FROM events WHERE cadre_id = ? "
            f"ORDER BY {_ORDER} DESC, rowid DESC LIMIT ?",
            (cadre_id, -1 if limit is None else limit),
        )
        return rows.fetchall()[::-1]

    def count(self) -> int:
        return int(self._con().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def schema_version(self) -> int:
        return int(self._con().execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def upgrade(self) -> tuple[int, int]:
        """Apply pending migrations (opening already does); returns (before, after)."""
        return self._migrate(self._con())

    def add_session(self, session_hash: str, who: str, key_hash: str, expires_at: datetime) -> None:
        now = as_utc(None)
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                "DELETE FROM console_sessions WHERE expires_at < ?",
                ((now - timedelta(days=1)).isoformat(),),
            )
            con.execute(
                "INSERT INTO console_sessions VALUES (?, ?, ?, ?, ?, NULL)",
                (session_hash, who, key_hash, now.isoformat(), as_utc(expires_at).isoformat()),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def session(self, session_hash: str, *, now: datetime | None = None) -> dict | None:
        row = (
            self._con()
            .execute(
                "SELECT who, key_hash, expires_at FROM console_sessions "
                "WHERE session_hash = ? AND revoked_at IS NULL AND expires_at > ?",
                (session_hash, as_utc(now).isoformat()),
            )
            .fetchone()
        )
        if row is None:
            return None
        return {"who": row[0], "key_hash": row[1], "expires_at": datetime.fromisoformat(row[2])}

    def revoke_session(self, session_hash: str) -> bool:
        cur = self._con().execute(
            "UPDATE console_sessions SET revoked_at = ? "
            "WHERE session_hash = ? AND revoked_at IS NULL",
            (as_utc(None).isoformat(), session_hash),
        )
        return cur.rowcount == 1

    def backup(self, dest: str | Path) -> Path:
        """Consistent online copy (SQLite backup API) — safe while the service writes."""
        dest = Path(dest)
        with closing(sqlite3.connect(dest)) as target:
            self._con().backup(target)
        return dest

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


_BACKENDS = {"postgresql": "recommender.lifecycle.events_pg"}


def as_utc(when: datetime | None) -> datetime:
    """``when`` (now if None) as an aware UTC time; a naive one is taken as UTC."""
    when = when or datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def redact_url(target: str | Path) -> str:
    """A store URL or conninfo fit to print or log: any password replaced by ``***``
    (``postgresql://user:secret@host/db``, ``password=secret``, ``?password=secret``)."""
    text = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", str(target))
    return re.sub(r"(?i)(password\s*=\s*)('[^']*'|[^\s&]+)", r"\1***", text)


def is_database_url(target: str | Path) -> bool:
    """True for ``postgresql://…`` / ``postgres://…`` (a PostgreSQL event store)."""
    return str(target).split("://", 1)[0] in ("postgresql", "postgres")


def sqlite_path(target: str | Path) -> Path:
    """The file of a SQLite target: a plain path, ``sqlite:///rel`` or ``sqlite:////abs``."""
    text = str(target)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        return Path(text[1:] if text.startswith("/") else text)
    if "://" in text:
        raise EventError(f"不支持的事件库地址 {text.split('://')[0]}://（unsupported_url）")
    return Path(text)


def open_event_store(target: str | Path, **options: Any) -> BaseEventStore:
    """The store for a URL or path: ``postgresql://…`` → PostgreSQL, ``sqlite:///PATH`` or a
    plain path → SQLite. Creates or migrates the schema. ``options``: ``history_limit``,
    ``clock_skew`` (both stores), ``pool_size`` and ``timeout`` (PostgreSQL)."""
    if is_database_url(target):
        # by name, like a plugin: events_pg builds on this module (and needs psycopg)
        module = importlib.import_module(_BACKENDS["postgresql"])
        return module.PgEventStore(str(target), **options)
    options.pop("pool_size", None)
    options.pop("timeout", None)
    return EventStore(sqlite_path(target), **options)
