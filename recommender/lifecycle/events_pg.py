"""The completion-event store in PostgreSQL: one database shared by every service replica.

Same contract as the SQLite store (:class:`~recommender.lifecycle.events.BaseEventStore`):
a batch is one transaction committed with ``synchronous_commit = on`` (the WAL is flushed
before ``add`` returns, so before the service's 2xx), ``event_id`` is the primary key (a
resend, from any replica, is a duplicate; concurrent inserts of one id wait for each other),
and the rows stored under known ids are compared inside the same transaction, so a
conflicting resend rolls the whole batch back. Connections come from a psycopg pool (a dropped
one is replaced and the operation retried once); an unreachable database raises
:class:`~recommender.lifecycle.events.EventStoreUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from recommender.lifecycle.events import (
    EVENT_COLUMNS,
    BaseEventStore,
    EventStore,
    EventStoreUnavailable,
    Row,
    SchemaVersionError,
    as_utc,
    redact_url,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_COLS = ", ".join(EVENT_COLUMNS)
_TYPES = ("text", "text", "text", "timestamp", "timestamp", "float8", "float8", "int2", "text")
_ORDER = "coalesce(completed_at, enrolled_at)"
_LOCK = 0x7875616E  # advisory lock id ("xuan") held while migrating

#: PostgreSQL migrations: version → statements
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS events (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            event_id text PRIMARY KEY,
            cadre_id text NOT NULL,
            course_id text NOT NULL,
            enrolled_at timestamp NOT NULL,
            completed_at timestamp,
            progress double precision,
            credit_hours_awarded double precision,
            rating smallint,
            source text,
            received_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"CREATE INDEX IF NOT EXISTS events_cadre_time ON events (cadre_id, ({_ORDER}), seq)",
    ),
    2: (
        """CREATE TABLE IF NOT EXISTS console_sessions (
            session_hash text PRIMARY KEY,
            who text NOT NULL,
            key_hash text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        )""",
    ),
}
SCHEMA_VERSION = max(_MIGRATIONS)
_INSERT = (
    f"INSERT INTO events (event_id, {_COLS}) "
    f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in _TYPES)}) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


#: the URL without its password (for logs and messages)
redact = redact_url


class PgEventStore(BaseEventStore):
    """Completion events in PostgreSQL (psycopg 3 + a connection pool), shared by replicas.

    Parameters
    ----------
    url : ``postgresql://user:password@host:port/dbname`` (libpq URL or keywords)
    pool_size : most connections this process holds (one per concurrent request)
    timeout : seconds to wait for a connection (then ``EventStoreUnavailable``)
    history_limit, clock_skew : as for every store
    """

    backend = "postgresql"

    def __init__(
        self, url: str, *, pool_size: int = 10, timeout: float = 10.0, **options: Any
    ) -> None:
        super().__init__(**options)
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=timeout,
            open=False,
            kwargs={"application_name": "xuanxue", "connect_timeout": max(1, int(timeout))},
            name="xuanxue-events",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise EventStoreUnavailable(
                f"连接不上事件库 {redact(url)}（events_unavailable）：{exc}"
            ) from exc
        try:
            self.migrated = self.upgrade()  # (version before, after) this open
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PgEventStore({redact(self.url)!r})"

    def _run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """``work(connection)`` in one transaction (commit on success, rollback on error).

        A dropped connection (database restarted, idle connection cut) is retried once after
        the pool has replaced its broken connections; every operation here may run twice
        (reads, and inserts that skip ids already stored), so a retry is safe even when the
        first commit's outcome is unknown. Checking every connection on checkout instead
        would cost a round trip per request.
        """
        for attempt in range(3):
            try:
                with self._pool.connection() as con:
                    return work(con)
            except pg_errors.DeadlockDetected as exc:  # not expected: inserts lock in id order
                if attempt == 2:
                    raise self._unavailable(exc) from exc
            except psycopg.OperationalError as exc:
                if attempt >= 1:
                    raise self._unavailable(exc) from exc
                self._pool.check()
            except PoolTimeout as exc:
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _unavailable(exc: Exception) -> EventStoreUnavailable:
        return EventStoreUnavailable(
            f"事件库暂时不可用（events_unavailable）：{str(exc).strip()[:200]}"
        )

    def upgrade(self) -> tuple[int, int]:
        """Create or migrate the schema (under an advisory lock, so replicas starting together
        migrate once); returns (version before, version after)."""
        return self._run(self._migrate)

    def _migrate(self, con: psycopg.Connection) -> tuple[int, int]:
        con.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        before = int(row[0])
        if before > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"事件库结构版本 {before} 比本程序支持的 {SCHEMA_VERSION} 新"
                "（schema_too_new）：请升级 xuanxue"
            )
        for version in range(before + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                con.execute(statement)
            con.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            log.info("event store %s migrated to schema %d", redact(self.url), version)
        return before, SCHEMA_VERSION

    def _insert(self, rows: list[Row], check) -> set[str]:
        rows = sorted(rows, key=lambda r: r[0])  # one lock order: concurrent batches can't deadlock
        columns = [list(col) for col in zip(*rows, strict=True)]

        def work(con: psycopg.Connection) -> set[str]:
            con.execute("SET LOCAL synchronous_commit TO on")  # whatever the server default
            new = {r[0] for r in con.execute(_INSERT, columns).fetchall()}
            known = [r[0] for r in rows if r[0] not in new]
            existing = {}
            if known:
                cur = con.execute(
                    f"SELECT event_id, {_COLS} FROM events WHERE event_id = ANY(%s)", (known,)
                )
                existing = {r[0]: r for r in cur.fetchall()}
            check(existing)  # raises EventConflictError: the transaction rolls back
            return new

        return self._run(work)

    def _fetch(self, cadre_id: str | None, limit: int | None) -> list[Row]:
        if cadre_id is None:
            return self._run(
                lambda con: con.execute(f"SELECT {_COLS} FROM events ORDER BY seq").fetchall()
            )
        query = (
            f"SELECT {_COLS} FROM events WHERE cadre_id = %s "
            f"ORDER BY {_ORDER} DESC, seq DESC LIMIT %s"
        )
        rows = self._run(lambda con: con.execute(query, (cadre_id, limit)).fetchall())
        return rows[::-1]

    def count(self) -> int:
        return int(self._run(lambda con: con.execute("SELECT count(*) FROM events").fetchone()[0]))

    def schema_version(self) -> int:
        query = "SELECT max(version) FROM schema_version"
        return int(self._run(lambda con: con.execute(query).fetchone()[0]))

    def add_session(self, session_hash: str, who: str, key_hash: str, expires_at: datetime) -> None:
        def work(con: psycopg.Connection) -> None:
            con.execute("DELETE FROM console_sessions WHERE expires_at < now() - interval '1 day'")
            con.execute(
                "INSERT INTO console_sessions (session_hash, who, key_hash, expires_at) "
                "VALUES (%s, %s, %s, %s)",
                (session_hash, who, key_hash, as_utc(expires_at)),
            )

        self._run(work)

    def session(self, session_hash: str, *, now: datetime | None = None) -> dict | None:
        query = (
            "SELECT who, key_hash, expires_at FROM console_sessions "
            "WHERE session_hash = %s AND revoked_at IS NULL AND expires_at > %s"
        )
        row = self._run(lambda con: con.execute(query, (session_hash, as_utc(now))).fetchone())
        if row is None:
            return None
        return {"who": row[0], "key_hash": row[1], "expires_at": row[2]}

    def revoke_session(self, session_hash: str) -> bool:
        query = (
            "UPDATE console_sessions SET revoked_at = now() "
            "WHERE session_hash = %s AND revoked_at IS NULL"
        )
        return bool(self._run(lambda con: con.execute(query, (session_hash,)).rowcount) == 1)

    def backup(self, dest: str | Path) -> Path:
        """A consistent snapshot of every event, written as a SQLite event store at ``dest``
        (for a full database backup use ``pg_dump``)."""

        def snapshot(con: psycopg.Connection) -> list[tuple]:
            con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return con.execute(f"SELECT event_id, {_COLS} FROM events ORDER BY seq").fetchall()

        rows = self._run(snapshot)
        copy = EventStore(dest)
        try:
            if rows:
                copy._insert([tuple(r) for r in rows], lambda existing: None)
        finally:
            copy.close()
        return Path(dest)

    def close(self) -> None:
        self._pool.close()
