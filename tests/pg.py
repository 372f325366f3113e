"""A throw-away PostgreSQL cluster for tests and benchmarks (initdb + pg_ctl, no mocks).

``PgCluster`` runs Debian's server binaries (``pg_config --bindir`` or
``/usr/lib/postgresql/*/bin``) in a temporary directory on a free loopback port; as root it
runs them as the unprivileged ``postgres`` (or ``nobody``) user, since initdb refuses root.
``pg_url`` (session fixture, imported by conftest) yields a fresh database per call of
``new_database``; without PostgreSQL the tests skip locally and fail when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


class PgUnavailable(RuntimeError):
    """No usable PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    candidates = []
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10
            )
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    raise PgUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """initdb + pg_ctl start in a temp dir; ``stop()`` removes everything."""

    def __init__(self, *, fsync: bool = True) -> None:
        self.bindir = find_bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="xuanxue-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = next(u for u in ("postgres", "nobody") if _has_user(u))
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.fsync = fsync
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            raise PgUnavailable(f"{args[0]} failed: {(proc.stderr or proc.stdout)[-1500:]}")
        return proc

    def start(self) -> PgCluster:
        self._run("initdb", "-D", str(self.data), "-U", "xuanxue", "-A", "trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")  # fmt: skip
        settings = {
            "port": self.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": 200,
            "fsync": "on" if self.fsync else "off",
            "shared_buffers": "'32MB'",
        }
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.started = True
        return self

    def restart(self) -> None:
        """Stop the server at once (``-m immediate``: like a crash) and start it again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")  # fmt: skip

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://xuanxue@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(PgUnavailable, subprocess.SubprocessError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server for the session (skips locally / fails in CI without one)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        _unavailable(f"psycopg not installed ({exc})")
    try:
        cluster = PgCluster(fsync=False).start()  # the tests kill clients, never the server
    except (PgUnavailable, StopIteration, OSError, subprocess.SubprocessError) as exc:
        _unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of a fresh, empty database on the session's server."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def events_target(request, tmp_path) -> str:
    """An empty event store of each backend: a SQLite path, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "var" / "events.sqlite3")
    return request.getfixturevalue("pg_url")


def stored_ids(target: str) -> dict[str, int]:
    """event_id → how many rows hold it, read straight from the database (not the store)."""
    import sqlite3
    from collections import Counter

    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as con:
            return Counter(r[0] for r in con.execute("SELECT event_id FROM events"))
    with contextlib.closing(sqlite3.connect(target)) as con:
        return Counter(r[0] for r in con.execute("SELECT event_id FROM events"))
