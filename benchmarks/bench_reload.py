"""Latency while the model is reloaded: one worker under wrk load, with and without admin
reloads running back to back (each 0.5 s after the previous one finished).

    .venv/bin/python -m benchmarks.bench_reload      # needs wrk and the large model of bench_scale
"""

from __future__ import annotations

import glob
import os
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pandas as pd

from benchmarks.common import MODELS, OUT

KEY = "k" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk(base: str, script: str, seconds: int = 12) -> tuple[float, float, int]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", script, base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    value, unit = re.search(r"99%\s+([\d.]+)(\w+)", out).groups()
    p99 = float(value) * {"s": 1000.0, "ms": 1.0, "us": 0.001}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return round(p99, 1), rps, int(bad.group(1)) if bad else 0


def main() -> None:
    root = MODELS / "large"
    port = _free_port()
    env = dict(os.environ, XUANXUE_API_KEY=KEY, XUANXUE_EVENTS_PATH=str(OUT / "reload.sqlite3"))
    cmd = [sys.executable, "-m", "recommender", "serve", "--model", str(root), "--port", str(port)]
    srv = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        cadres = sorted(glob.glob(str(OUT / "data" / "large-*" / "cadres.csv")))[-1]
        ids = pd.read_csv(cadres, usecols=["cadre_id"], nrows=2000)["cadre_id"].tolist()
        script = OUT / "reload_ids.lua"
        script.write_text(
            "ids = {" + ",".join(f'"{i}"' for i in ids) + "}\nrequest = function()\n"
            '  return wrk.format("GET", "/v1/cadres/" .. ids[math.random(#ids)] .. '
            '"/recommendations?k=10")\nend\n'
        )
        rows = [("no reload", *_wrk(base, str(script)), 0, 0)]
        stop, done = threading.Event(), [0, 0]

        def reloader() -> None:
            with httpx.Client(timeout=120) as c:
                while not stop.is_set():
                    r = c.post(base + "/v1/admin/reload", json={"force": True},
                               headers={"X-API-Key": KEY})  # fmt: skip
                    done[0] += 1
                    done[1] += r.status_code != 200
                    time.sleep(0.5)

        thread = threading.Thread(target=reloader)
        thread.start()
        rows.append(("reloads back to back", *_wrk(base, str(script)), *done))
        stop.set()
        thread.join()
    finally:
        srv.terminate()
        srv.wait()
    table = pd.DataFrame(
        rows, columns=["while", "p99 ms", "req/s", "non-2xx", "reloads done", "reloads failed"]
    )
    print("## Reload under load (large model, 1 worker, wrk c=8, 12 s)")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
