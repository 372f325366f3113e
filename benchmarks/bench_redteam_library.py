"""Red team, library side: repeat issue #20's attacks on artifacts, keys, file writes and
jieba's cache; print held/broken for each (``bench_redteam`` does the HTTP service's).

``python -m benchmarks.bench_redteam_library``

- ``rejects-symlink``: ``ln -s TARGET dropbox/courses.rejects.csv`` plus a course whose
  credit_hours is ``$(id > /tmp/x)``, then ``recommender validate dropbox``: held when TARGET
  is byte-for-byte unchanged;
- ``signed-pickle``: a malicious pickle as model.json, signed with the real private key
  (a compromised trainer): held when loading refuses it and its payload never runs;
- ``replica-cannot-sign``: a replica configured with the public key only: held when it can
  verify a model and cannot produce a signature its own loader accepts;
- ``exposed-private-key``: the private key file chmod 644: held when it is refused;
- ``fifo-artifact``: a FIFO named model.json: held when loading is refused within 5 s;
- ``renamed-version``: an old signed version copied under a newer name: held when refused;
- ``jieba-cache``: a poisoned ``$TMPDIR/jieba.cache``: held when the tokens are unchanged;
- ``pickle-files``: files of a version ``pickle.loads`` accepts: held at 0.
"""

from __future__ import annotations

import marshal
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import PY, ROOT, Section

TEXTS = ["推进乡村振兴和基层治理工作", "乡镇应急管理与防汛救灾", "党风廉政建设专题培训"]


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('pwned')",))


def _run(args: list[str], env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [PY, *args], check=False, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )


def rejects_symlink(tmp: Path, data: Path) -> tuple[bool, str]:
    box = shutil.copytree(data, tmp / "dropbox")
    courses = pd.read_csv(box / "courses.csv", dtype=str, keep_default_na=False)
    courses.loc[0, "credit_hours"] = "$(id > /tmp/x)"
    courses.to_csv(box / "courses.csv", index=False)
    target = tmp / "bashrc"
    target.write_text("# shell start-up file\n")
    before = target.read_bytes()
    (box / "courses.rejects.csv").symlink_to(target)
    proc = _run(["-m", "recommender", "validate", str(box), "--allow-rejects"], cwd=tmp)
    held = target.read_bytes() == before
    return held, f"validate exit {proc.returncode}; target unchanged: {held}"


def signed_pickle(tmp: Path, models: Path) -> tuple[bool, str]:
    from recommender.lifecycle.artifacts import (
        DATA_FILES,
        MODEL_FILE,
        ArtifactError,
        load_model,
        resolve,
        signing_keys,
    )
    from recommender.lifecycle.signing import SIGNATURE_FILE, sign

    marker = tmp / "pwned"
    d = shutil.copytree(resolve(models), tmp / "evil" / resolve(models).name)
    (d / MODEL_FILE).write_bytes(pickle.dumps(Evil(marker)))
    files = {n: (d / n).read_bytes() for n in DATA_FILES}
    (d / SIGNATURE_FILE).write_bytes(sign(files, d.name, signing_keys()))
    try:
        load_model(d)
        code = "loaded"
    except ArtifactError as exc:
        code = exc.code
    return (code != "loaded" and not marker.exists()), f"{code}; payload ran: {marker.exists()}"


def replica_cannot_sign(tmp: Path, models: Path) -> tuple[bool, str]:
    from recommender.lifecycle.artifacts import signing_keys
    from recommender.lifecycle.signing import public_text

    trusted = tmp / "replica" / "trusted_keys"
    trusted.parent.mkdir()
    trusted.write_text(public_text(signing_keys().public) + "\n")
    env = {
        "XUANXUE_PRIVATE_KEY_FILE": str(tmp / "replica" / "none"),
        "XUANXUE_TRUSTED_KEYS_FILE": str(trusted),
    }
    script = (
        "from recommender.lifecycle.artifacts import load_model, signing_keys, ArtifactError\n"
        f"print(load_model({str(models)!r}).version)\n"
        "try:\n    signing_keys(); print('CAN SIGN')\n"
        "except ArtifactError as e:\n    print(e.code)\n"
    )
    proc = _run(["-c", script], env=env)
    lines = proc.stdout.split()
    held = proc.returncode == 0 and lines[-1:] == ["signing_key_missing"]
    return held, f"replica loads {lines[:1]}, signing: {lines[-1:]}"


def exposed_private_key(tmp: Path) -> tuple[bool, str]:
    from recommender.lifecycle.artifacts import signing_keys

    key = tmp / "exposed.key"
    shutil.copyfile(signing_keys().source, key)
    os.chmod(key, 0o644)
    script = (
        "from recommender.lifecycle.artifacts import signing_keys, ArtifactError\n"
        "try:\n    signing_keys(); print('USED')\n"
        "except ArtifactError as e:\n    print(e.code)\n"
    )
    out = _run(["-c", script], env={"XUANXUE_PRIVATE_KEY_FILE": str(key)}).stdout.split()
    return out[-1:] == ["signing_key_exposed"], f"{out[-1:]}"


def fifo_artifact(tmp: Path, models: Path) -> tuple[bool, str]:
    from recommender.lifecycle.artifacts import MODEL_FILE, ArtifactError, load_model, resolve

    d = shutil.copytree(resolve(models), tmp / "fifo" / resolve(models).name)
    (d / MODEL_FILE).unlink()
    os.mkfifo(d / MODEL_FILE)
    codes: list[str] = []

    def attempt() -> None:
        try:
            load_model(d)
            codes.append("loaded")
        except ArtifactError as exc:
            codes.append(exc.code)

    t0 = time.perf_counter()
    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(5)
    took = time.perf_counter() - t0
    return (codes == ["artifact_unsafe_file"]), f"{codes or ['still hanging']} in {took:.3f} s"


def renamed_version(tmp: Path, models: Path) -> tuple[bool, str]:
    from recommender.lifecycle.artifacts import ArtifactError, load_model, resolve

    d = shutil.copytree(resolve(models), tmp / "renamed" / "29990101T000000Z-aaaa")
    try:
        load_model(d)
        return False, "loaded"
    except ArtifactError as exc:
        return exc.code == "artifact_version_mismatch", exc.code


def jieba_cache(tmp: Path) -> tuple[bool, str]:
    script = (
        "import json\nfrom recommender.text.tokenizer import ChineseTokenizer\n"
        f"tk = ChineseTokenizer()\ntokens = [tk(t) for t in {TEXTS!r}]\n"
        "print(json.dumps(tokens, ensure_ascii=False))\n"
    )
    clean = _run(["-c", script], env={"TMPDIR": str(tmp), "XDG_CACHE_HOME": str(tmp / "c1")})
    poisoned = tmp / "shared"
    poisoned.mkdir()
    chars = set("".join(TEXTS))
    (poisoned / "jieba.cache").write_bytes(
        marshal.dumps((dict.fromkeys(chars, 10**9), 10**9 * len(chars)))
    )
    env = {"TMPDIR": str(poisoned), "XDG_CACHE_HOME": str(tmp / "c2")}
    got = _run(["-c", script], env=env)
    a, b = clean.stdout.strip(), got.stdout.strip()
    return bool(a) and a == b, f"tokens {'unchanged' if a == b else 'CHANGED'}: {b[:60]}"


def pickle_files(models: Path) -> tuple[bool, str]:
    from recommender.lifecycle.artifacts import resolve

    accepted = []
    for p in sorted(resolve(models).iterdir()):
        try:
            pickle.loads(p.read_bytes())
            accepted.append(p.name)
        except Exception:
            pass
    return not accepted, f"{len(accepted)} of {len(list(resolve(models).iterdir()))} files"


def main() -> None:
    from recommender.lifecycle.train import train
    from samplegen import generate_sample

    sec = Section("Red team, library side", "python -m benchmarks.bench_redteam_library")
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="redteam-lib-") as name:
        tmp = Path(name)
        data = tmp / "data"
        generate_sample(data, scale="tiny", seed=7)
        models = tmp / "models"
        train(data, models)
        attacks = {
            "rejects-symlink": lambda: rejects_symlink(tmp, data),
            "signed-pickle": lambda: signed_pickle(tmp, models),
            "replica-cannot-sign": lambda: replica_cannot_sign(tmp, models),
            "exposed-private-key": lambda: exposed_private_key(tmp),
            "fifo-artifact": lambda: fifo_artifact(tmp, models),
            "renamed-version": lambda: renamed_version(tmp, models),
            "jieba-cache": lambda: jieba_cache(tmp),
            "pickle-files": lambda: pickle_files(models),
        }
        for attack, run in attacks.items():
            held, detail = run()
            rows.append(
                {"attack": attack, "result": "held" if held else "BROKEN", "detail": detail}
            )
            print(f"{attack:<22} {'held' if held else 'BROKEN':<7} {detail}", flush=True)
    sec.add("Issue #20 attacks on the library", pd.DataFrame(rows))
    sec.seconds = time.perf_counter() - t0
    path = sec.save("redteam_library")
    print(f"\n→ {path}", file=sys.stderr)
    if any(r["result"] != "held" for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
