"""The event store's contract, run against SQLite and a real PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from recommender.lifecycle.events import (
    SQLITE_SCHEMA_VERSION,
    EventConflictError,
    EventError,
    EventStore,
    EventStoreUnavailable,
    EventValidationError,
    open_event_store,
    redact_url,
)
from tests.pg import stored_ids

NOW = datetime(2026, 6, 1, 12, 0)


def ev(cadre="G1", course="C1", **extra):
    return {
        "cadre_id": cadre,
        "course_id": course,
        "enrolled_at": "2026-03-01T09:00:00",
        "completed_at": "2026-03-05 18:30",
        "progress": 1.0,
        "rating": 5,
        "source": "recommended",
        **extra,
    }


@pytest.fixture
def store(events_target):
    with open_event_store(events_target, history_limit=4) as s:
        yield s


def test_add_is_idempotent_and_reads_back(store):
    a, b = ev(), ev(course="C2", event_id="p-1", progress=1)
    assert [new for _, new in store.add([a, b, a], now=NOW)] == [True, True, False]
    assert [new for _, new in store.add([b, a], now=NOW)] == [False, False]
    assert store.count() == 2
    frame = store.for_cadre("G1")
    assert list(frame["course_id"]) == ["C1", "C2"]
    assert str(frame["completed_at"].iloc[0]) == "2026-03-05 18:30:00"
    assert store.for_cadre("nobody") is None
    assert len(store.to_frame()) == 2 and store.schema_version() >= 1


def test_console_sessions_are_shared_expire_and_revoke(store, events_target):
    """Sessions live with the events, so a second replica (a second store on the same
    database) sees a sign-in at once and a logout too."""
    ends = datetime.now(UTC) + timedelta(hours=1)
    store.add_session("h-" + "a" * 62, "培训科", "k" * 64, ends)
    with open_event_store(events_target) as replica:
        found = replica.session("h-" + "a" * 62)
        assert found is not None and found["who"] == "培训科" and found["key_hash"] == "k" * 64
        assert replica.session("h-" + "a" * 62, now=ends + timedelta(seconds=1)) is None
        assert replica.session("h-unknown") is None
        assert replica.revoke_session("h-" + "a" * 62) is True
    assert store.session("h-" + "a" * 62) is None
    assert store.revoke_session("h-" + "a" * 62) is False  # already revoked


def test_connection_strings_are_redacted():
    assert (
        redact_url("postgresql://xuanxue:s3cr%40t@db:5432/x")
        == "postgresql://xuanxue:***@db:5432/x"
    )
    assert "zz" not in redact_url("postgres://u@h/d?sslmode=require&password=zz")
    assert redact_url("host=db password=secret dbname=x") == "host=db password=*** dbname=x"
    assert redact_url("var/events.sqlite3") == "var/events.sqlite3"


def test_conflicting_resend_names_fields_and_stores_nothing(store):
    store.add([ev(event_id="p-1")], now=NOW)
    batch = [ev(course="C9"), ev(event_id="p-1", rating=2, completed_at=None)]
    with pytest.raises(EventConflictError) as err:
        store.add(batch, now=NOW)
    assert err.value.conflicts == [
        {"index": 1, "event_id": "p-1", "fields": ["completed_at", "rating"]}
    ]
    assert "rating" in str(err.value) and "event_conflict" in str(err.value)
    assert store.count() == 1  # C9 was rolled back with the conflict
    with pytest.raises(EventConflictError):  # two versions inside one batch
        store.add([ev(event_id="p-2"), ev(event_id="p-2", source="assigned")], now=NOW)
    assert store.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"completed_at": "2026-02-01T00:00:00"}, "completed_at", "before_enrolled"),
        ({"enrolled_at": "1999-12-31T00:00:00"}, "enrolled_at", "too_early"),
        ({"completed_at": "2026-06-01T13:00:00"}, "completed_at", "in_future"),
        ({"enrolled_at": None}, "enrolled_at", "missing"),
        ({"enrolled_at": "昨天"}, "enrolled_at", "type"),
        ({"rating": 9}, "rating", "out_of_range"),
        ({"cadre_id": ""}, "cadre_id", "missing"),
    ],
)
def test_rules_name_the_event_and_field(store, change, field, code):
    with pytest.raises(EventValidationError) as err:
        store.add([ev(), ev(**change)], now=NOW)
    found = [(p["index"], p["field"], p["code"]) for p in err.value.problems]
    assert (1, field, code) in found, found
    assert store.count() == 0


def test_clock_skew_allowance(events_target):
    with open_event_store(events_target, clock_skew=timedelta(minutes=10)) as s:
        s.add([ev(completed_at=NOW + timedelta(minutes=9))], now=NOW)
        with pytest.raises(EventValidationError):
            s.add([ev(completed_at=NOW + timedelta(minutes=11))], now=NOW)


def test_for_cadre_returns_the_most_recent_n_oldest_first(store):
    months = [5, 1, 4, 2, 3, 6]
    store.add(
        [
            ev(course=f"C{m}", enrolled_at=f"2025-0{m}-01T00:00:00", completed_at=None)
            for m in months
        ],
        now=NOW,
    )
    assert list(store.for_cadre("G1")["course_id"]) == ["C3", "C4", "C5", "C6"]
    assert store.count() == 6


def test_concurrent_writers_store_each_event_once(events_target):
    with open_event_store(events_target) as s:
        errors = []

        def worker(t: int) -> None:
            try:
                for b in range(15):  # overlapping ids between threads: duplicates, not copies
                    s.add([ev(event_id=f"e{t + b + k}") for k in range(3)], now=NOW)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        assert s.count() == 24  # ids e0 … e23
    assert all(n == 1 for n in stored_ids(events_target).values())


def test_reopening_keeps_events_and_schema(events_target):
    with open_event_store(events_target) as s:
        s.add([ev()], now=NOW)
        version = s.schema_version()
        assert s.upgrade() == (version, version)
    with open_event_store(events_target) as again:
        assert again.count() == 1 and again.schema_version() == version


def test_backup_is_a_sqlite_store(store, tmp_path):
    store.add([ev(), ev(course="C2")], now=NOW)
    copy = store.backup(tmp_path / "backup.sqlite3")
    with EventStore(copy) as s:
        assert s.count() == 2 and list(s.for_cadre("G1")["course_id"]) == ["C1", "C2"]


def test_factory_reads_urls_and_paths(tmp_path):
    for target in (tmp_path / "a.sqlite3", f"sqlite:///{tmp_path}/b.sqlite3"):
        with open_event_store(target) as s:
            assert isinstance(s, EventStore) and s.path.parent == tmp_path
    with pytest.raises(EventError, match="unsupported_url"):
        open_event_store("mysql://x/y")


def test_old_unversioned_sqlite_store_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as con:
        con.executescript(
            "CREATE TABLE events (event_id TEXT PRIMARY KEY, cadre_id TEXT, course_id TEXT, "
            "enrolled_at TEXT, completed_at TEXT, progress TEXT, credit_hours_awarded TEXT, "
            "rating TEXT, source TEXT, received_at TEXT);"
            "INSERT INTO events (event_id, cadre_id, course_id, enrolled_at, progress) "
            "VALUES ('x', 'G1', 'C1', '2026-03-01 09:00:00', '1.0');"
        )
        con.commit()
    with open_event_store(path) as s:
        assert s.schema_version() == SQLITE_SCHEMA_VERSION and s.count() == 1
        same = {"event_id": "x", "cadre_id": "G1", "course_id": "C1", "progress": 1}
        assert s.add([{**same, "enrolled_at": "2026-03-01T09:00:00"}], now=NOW) == [("x", False)]


def test_unreachable_postgres_is_unavailable_not_a_crash():
    pytest.importorskip("psycopg")
    with pytest.raises(EventStoreUnavailable, match="events_unavailable"):
        open_event_store("postgresql://nobody:secret@127.0.0.1:1/none", timeout=1)


def test_db_upgrade_and_train_read_the_same_store(events_target):
    from typer.testing import CliRunner

    from recommender.cli import app
    from recommender.lifecycle.train import read_events

    result = CliRunner().invoke(app, ["db", "upgrade", "--events", events_target])
    assert result.exit_code == 0, result.output
    assert "结构版本" in result.output and "0 条事件" in result.output
    with open_event_store(events_target) as s:
        s.add([ev(), ev(course="C2")], now=NOW)
    again = CliRunner().invoke(app, ["db", "upgrade", "--events", events_target])
    assert "已是最新" in again.output and "2 条事件" in again.output
    assert list(read_events(events_target)["course_id"]) == ["C1", "C2"]


def test_postgres_restart_is_survived(pg_cluster):
    """Pooled connections die with the server; the next calls reconnect and nothing is lost."""
    with open_event_store(pg_cluster.new_database(), pool_size=3) as s:
        s.add([ev(), ev(course="C2")], now=NOW)
        for _ in range(3):  # fill the pool with idle connections
            s.for_cadre("G1")
        pg_cluster.restart()
        assert len(s.for_cadre("G1")) == 2
        assert [new for _, new in s.add([ev(course="C3"), ev()], now=NOW)] == [True, False]
        assert s.count() == 3
