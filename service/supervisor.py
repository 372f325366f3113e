"""Several workers on one copy of the model: load once in the supervisor, then fork.

uvicorn's own supervisor *spawns* each worker (a fresh interpreter that imports the stack
and loads the model again), so N workers held N private copies of everything that is not a
mapped array: pandas frames, jieba's dictionary, the signals' derived arrays, the imported
modules themselves. Here the supervisor loads and smoke-checks the model first, freezes the
objects alive out of the garbage collector's reach (:func:`gc.freeze`, so a collection in a
worker never writes to the shared pages) and *forks* the workers (copy-on-write, like
gunicorn's ``--preload``): a worker's private pages are then only what its requests write.

Each worker slot listens on its own ``SO_REUSEPORT`` socket (bound here, kept open here):
the kernel spreads new connections over the slots by their address hash. On one shared
socket, whichever worker woke first accepted every waiting connection (asyncio accepts up
to the backlog per wake-up), and a burst of keep-alive connections could all land on one
worker while the other idled. A slot's replacement inherits the same socket, so a rolling
restart drops nothing queued on it.

Reloads keep the sharing: SIGHUP (and ``poll_seconds``, checked here instead of in every
worker) loads and smoke-checks the new model in the supervisor, then replaces the workers one
by one with forks that share it, each ready before the old one stops; a refused model leaves
the running workers as they are. ``POST /v1/admin/reload`` still reloads the one worker that
answers it (that worker then holds a private copy of the new model's Python state).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import socket
import time
from typing import Any

from uvicorn import Config
from uvicorn._subprocess import subprocess_started
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess, Process

log = logging.getLogger(__name__)

_fork = multiprocessing.get_context("fork")


class ForkedWorker(Process):
    """uvicorn's worker process, forked from the supervisor instead of spawned."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self._server = None
        self.parent_conn, self.child_conn = multiprocessing.Pipe()
        kwargs = {
            "config": config,
            "target": self.target,
            "sockets": sockets,
            "stdin_fileno": None,
        }
        self.process = _fork.Process(target=_started, kwargs=kwargs)


def _started(**kwargs: Any) -> None:
    # the supervisor's handlers only queue signals for its own loop: a worker starts with the
    # defaults, then uvicorn's server installs its own (SIGINT/SIGTERM) and the app's SIGHUP
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    subprocess_started(**kwargs)


class PreloadSupervisor(Multiprocess):
    """uvicorn's supervisor (health checks, restarts of dead workers, SIGTTIN/SIGTTOU) with
    forked workers and a model reloaded here before a rolling restart."""

    def __init__(
        self,
        config: Config,
        sockets: list[socket.socket],
        app: Any,
        poll_seconds: float,
        slots: list[socket.socket] | None = None,
    ):
        super().__init__(config, sockets)
        self.slots = slots  # one SO_REUSEPORT socket per worker slot (None: share `sockets`)
        self.app = app
        self.poll_seconds = poll_seconds
        self._next_poll = time.monotonic() + poll_seconds
        holder = app.state.holder
        self._polled = holder.current.path if holder.current else None

    def _worker(self, slot: int) -> ForkedWorker:
        gc.collect()  # what the supervisor made since the last freeze, then freeze it all
        gc.freeze()
        sockets = [self.slots[slot]] if self.slots else self.sockets
        worker = ForkedWorker(self.config, sockets)
        worker.start()
        return worker

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            self.processes.append(self._worker(slot))

    def restart_all(self) -> None:
        """Each worker replaced by a fork of the current supervisor, ready before the old stops."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._worker(idx)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("新工作进程 [%s] 未能按时就绪，保留旧进程 [%s]", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if self.should_exit.is_set():
                return
            log.info("工作进程 [%s] 已退出，重新启动", process.pid)
            self.processes[idx] = self._worker(idx)

    def handle_ttin(self) -> None:
        log.warning("收到 SIGTTIN：工作进程数在启动时确定（--workers），不增加")

    def handle_ttou(self) -> None:
        log.warning("收到 SIGTTOU：工作进程数在启动时确定（--workers），不减少")

    def handle_hup(self) -> None:
        log.info("收到 SIGHUP：在主进程重新加载模型，再逐个替换工作进程")
        self._reload_and_restart(force=False)

    def handle_signals(self) -> None:  # called every 0.5 s by the supervisor's loop
        super().handle_signals()
        if self.poll_seconds > 0 and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + self.poll_seconds
            self._poll()

    def _poll(self) -> None:
        holder = self.app.state.holder
        try:
            target = holder.target()
        except Exception:  # `current` missing or broken: keep serving
            return
        if target != self._polled:
            self._polled = target
            self._reload_and_restart(force=False)

    def _reload_and_restart(self, *, force: bool) -> None:
        try:
            result = self.app.state.reload(force=force)
        except Exception as exc:  # refused: the workers keep the old model
            log.error("重新加载被拒绝，工作进程继续使用 %s：%s", self.app.state.holder.version, exc)
            return
        if result.changed:
            log.info("主进程已加载 %s（原 %s）", result.loaded.version, result.previous_version)
            self.restart_all()
        else:
            log.info("模型未变（%s），工作进程保持不变", result.loaded.version)


def serve_preloaded(config: Config, app: Any, poll_seconds: float) -> None:
    """Load the model here, then run ``config.workers`` forked workers of ``app``."""
    app.state.reload()  # raises (ArtifactError) before any socket is bound: fail fast
    sock = config.bind_socket()
    slots = _reuseport_slots(config, sock) if config.uds is None and config.fd is None else None
    PreloadSupervisor(config, [sock], app, poll_seconds, slots).run()


def _reuseport_slots(config: Config, first: socket.socket) -> list[socket.socket] | None:
    """``config.workers`` TCP sockets bound to the address of ``first`` with SO_REUSEPORT
    (None where the platform has no SO_REUSEPORT: the workers then share ``first``)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return None
    host, port = first.getsockname()[:2]
    first.close()  # bound without SO_REUSEPORT: the slots take its address
    slots = []
    for _ in range(config.workers):
        sock = socket.socket(first.family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))  # port 0 became a real port on the first bind
        sock.set_inheritable(True)
        slots.append(sock)
    return slots
