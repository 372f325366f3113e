"""A real Spark standalone cluster on this machine: one master and N workers on 127.0.0.1,
started with the pip package's ``spark-class`` (tests, benchmarks, trying a cluster job).

``with LocalCluster(workers=2) as c: ...`` submits to ``c.url``; the processes it started
(and only those) are stopped on exit, even when the body fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """Master + ``workers`` workers (``cores`` and ``memory`` each), bound to 127.0.0.1."""

    def __init__(
        self,
        *,
        workers: int = 2,
        cores: int = 1,
        memory: str = "2g",
        work_dir: str | Path | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.workers, self.cores, self.memory, self.timeout = workers, cores, memory, timeout
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="xuanxue-spark-"))
        self.python = sys.executable
        self.port, self.ui_port = _free_port(), _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        """The environment of the cluster's processes and of a job submitted to it."""
        import pyspark

        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(Path(pyspark.__file__).parent),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_LOG_DIR=str(self.work_dir / "logs"),
            PYSPARK_PYTHON=self.python,
            PYSPARK_DRIVER_PYTHON=self.python,
        )
        return env

    def _start(self, args: list[str], name: str) -> None:
        spark_class = Path(self.env()["SPARK_HOME"]) / "bin" / "spark-class"
        log = open(self.work_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [str(spark_class), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env()
        )
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)

    def status(self) -> dict:
        """The master's JSON status (workers, applications)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.load(r)

    def finished_apps(self) -> int:
        return len(self.status().get("completedapps", []))

    def __enter__(self) -> LocalCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(
                [
                    "org.apache.spark.deploy.master.Master",
                    "--host", "127.0.0.1",
                    "--port", str(self.port),
                    "--webui-port", str(self.ui_port),
                ],
                "master",
            )  # fmt: skip
            for i in range(self.workers):
                wd = self.work_dir / f"worker{i}"
                wd.mkdir(exist_ok=True)
                self._start(
                    [
                        "org.apache.spark.deploy.worker.Worker", self.url,
                        "--host", "127.0.0.1",
                        "--webui-port", str(_free_port()),
                        "--cores", str(self.cores),
                        "--memory", self.memory,
                        "--work-dir", str(wd),
                    ],
                    f"worker{i}",
                )  # fmt: skip
            self._wait_for_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"Spark 进程提前退出，日志见 {self.work_dir}")
            try:
                alive = [w for w in self.status().get("workers", []) if w.get("state") == "ALIVE"]
                if len(alive) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(1.0)
        raise TimeoutError(f"{self.timeout:.0f} 秒内 Spark 集群未就绪，日志见 {self.work_dir}")

    def stop(self) -> None:
        """Stop the workers, then the master (only the processes started here)."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            proc.log.close()  # type: ignore[attr-defined]
        self.procs.clear()

    def __exit__(self, *exc) -> None:
        self.stop()
