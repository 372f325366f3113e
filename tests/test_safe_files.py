"""Files written and read safely (issue 20): symlinks and FIFOs refused, personal data 0600 in
0700 directories, rejects reports out of the input folder, jieba's cache never in a shared /tmp."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recommender.data.safe_write import (
    UnsafePathError,
    private_dir,
    read_regular,
    write_bytes,
    write_text,
)

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the one writer
def test_write_replaces_a_symlink_target_never(tmp_path):
    target = tmp_path / "bashrc"
    target.write_text("original\n")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError, match="符号链接") as err:
        write_text(link, "$(id > /tmp/x)\n")
    assert err.value.code == "unsafe_path"
    assert target.read_text() == "original\n" and link.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_write_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(_raises(lambda: write_text(fifo, "x"))))
    t.start()
    t.join(5)
    assert done == [True], "a write to a FIFO blocked or was not refused"


def _raises(fn) -> bool:
    try:
        fn()
    except UnsafePathError:
        return True
    return False


def test_read_refuses_symlink_and_fifo_without_blocking(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"ok")
    assert read_regular(real) == b"ok"
    (tmp_path / "link").symlink_to(real)
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        done: list[bool] = []
        t = threading.Thread(target=_record, args=(done, read_regular, tmp_path / name))
        t.start()
        t.join(5)
        assert done == [True], name


def _record(done: list[bool], fn, path: Path) -> None:
    done.append(_raises(lambda: fn(path)))


def test_private_files_are_0600_in_0700_directories(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_bytes(tmp_path / "new" / "deeper" / "people.csv", b"x", private=True)
        public = write_bytes(tmp_path / "menu.csv", b"y")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    assert stat.S_IMODE(private_dir(loose).stat().st_mode) == 0o700
    (tmp_path / "dirlink").symlink_to(loose)
    with pytest.raises(UnsafePathError):
        private_dir(tmp_path / "dirlink")


def test_a_failed_write_leaves_the_old_file(tmp_path):
    from recommender.data.safe_write import open_output

    path = tmp_path / "report.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError), open_output(path) as fh:
        fh.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# ---------------------------------------------------------------- jieba's cache
PROBE = """
import json, sys
from recommender.text.tokenizer import ChineseTokenizer
texts = ["推进乡村振兴和基层治理工作", "乡镇应急管理与防汛救灾", "党风廉政建设专题培训",
         "大学生村官如何做好群众工作"]
tk = ChineseTokenizer()
out = {"ours": [tk(t) for t in texts]}
import jieba
try:  # control: jieba's default tokenizer reads $TMPDIR/jieba.cache
    out["jieba"] = [jieba.Tokenizer().lcut(t) for t in texts]
except Exception as exc:
    out["jieba"] = type(exc).__name__
print(json.dumps(out, ensure_ascii=False))
"""


def _poison(directory: Path, kind: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "split":  # every character a frequent word: 乡村振兴 → 乡/村/振/兴
        chars = set("推进乡村振兴和基层治理工作镇应急管与防汛救灾党风廉政建设专题培训")
        chars |= set("大学生官如何做好群众")
        freq = dict.fromkeys(chars, 10**9)
        data = (freq, 10**9 * len(chars))
    else:  # malformed: a frequency that is not a number (made every profile with 乡 fail)
        data = ({"乡": "x"}, 1)
    (directory / "jieba.cache").write_bytes(marshal.dumps(data))


def _probe(env_tmp: Path | None, home: Path, *, bind_tmp: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "XUANXUE_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    if env_tmp is not None:
        env["TMPDIR"] = str(env_tmp)
    cmd = [sys.executable, "-c", PROBE]
    if bind_tmp is not None:  # a private mount namespace: poison "/tmp" without touching it
        # a checkout or virtualenv under /tmp (a CI clone) stays visible through the fake /tmp
        keep = {Path(p).resolve() for p in (ROOT, sys.prefix)}
        keep = sorted(p for p in keep if p.is_relative_to("/tmp"))
        binds = "".join(
            f'mkdir -p "{bind_tmp / p.relative_to("/tmp")}" && '
            f'mount --bind "{p}" "{bind_tmp / p.relative_to("/tmp")}" && '
            for p in keep
        )
        script = f'{binds}mount --rbind "{bind_tmp}" /tmp && exec "$@"'
        cmd = ["unshare", "-rm", "sh", "-c", script, "sh", *cmd]
    proc = subprocess.run(
        cmd, check=False, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], check=False, capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.parametrize("kind", ["split", "malformed"])
def test_a_poisoned_tmpdir_jieba_cache_changes_no_answer(tmp_path, kind):
    clean = _probe(tmp_path / "clean", tmp_path / "home-clean")
    poisoned_dir = tmp_path / "shared-tmp"
    _poison(poisoned_dir, kind)
    got = _probe(poisoned_dir, tmp_path / "home")
    assert got["ours"] == clean["ours"]
    assert got["jieba"] != clean["jieba"]  # control: the poison works on jieba's default
    cache = tmp_path / "home" / "xuanxue"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert [p.name for p in cache.iterdir()] and not (poisoned_dir / "jieba-0.42.1.cache").exists()


@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare -rm` (a private mount namespace)")
def test_a_poisoned_slash_tmp_jieba_cache_changes_no_answer(tmp_path):
    clean = _probe(tmp_path / "clean", tmp_path / "home-clean")
    fake_tmp = tmp_path / "slash-tmp"
    _poison(fake_tmp, "split")
    got = _probe(None, tmp_path / "home", bind_tmp=fake_tmp)
    assert got["ours"] == clean["ours"] and got["jieba"] != clean["jieba"]


# ---------------------------------------------------------------- the rejects symlink attack
def _dropbox(tiny_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A data folder with one course whose credit_hours is a shell payload, and a symlink
    planted where the rejects report of the input folder used to go."""
    import pandas as pd

    box = shutil.copytree(tiny_data, tmp_path / "dropbox")
    courses = pd.read_csv(box / "courses.csv", dtype=str, keep_default_na=False)
    courses.loc[0, "credit_hours"] = "$(id > /tmp/x)"
    courses.to_csv(box / "courses.csv", index=False)
    target = tmp_path / "bashrc"
    target.write_text("# the user's shell start-up file\n")
    (box / "courses.rejects.csv").symlink_to(target)
    return box, target


def test_the_rejects_symlink_attack_leaves_the_target_untouched(tiny_data, tmp_path):
    box, target = _dropbox(tiny_data, tmp_path)
    before = target.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", "validate", str(box), "--allow-rejects"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == before and (box / "courses.rejects.csv").is_symlink()
    report = tmp_path / "rejects" / "courses.rejects.csv"  # beside the (default) models root
    assert "$(id > /tmp/x)" in report.read_text(encoding="utf-8-sig")
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert stat.S_IMODE(report.parent.stat().st_mode) == 0o700
    assert str(tmp_path / "rejects") in proc.stdout


def test_rejects_written_into_the_input_folder_refuse_a_planted_symlink(tiny_data, tmp_path):
    """The library's own default (the data folder) goes through the safe writer too."""
    from recommender.data.loading import load_dataset

    box, target = _dropbox(tiny_data, tmp_path)
    before = target.read_bytes()
    with pytest.raises(UnsafePathError, match="符号链接"):
        load_dataset(box)
    assert target.read_bytes() == before
    out = tmp_path / "private-out"
    ds = load_dataset(box, rejects_dir=out)
    assert ds.rows_rejected and "$(id > /tmp/x)" in (out / "courses.rejects.csv").read_text(
        "utf-8-sig"
    )
    assert target.read_bytes() == before


def test_the_event_store_is_created_private(tmp_path):
    from recommender.lifecycle.events import EventStore

    old = os.umask(0o022)
    try:
        store = EventStore(tmp_path / "var" / "events.sqlite3")
    finally:
        os.umask(old)
    store.close()
    created = [p for p in (tmp_path / "var").iterdir()]
    assert created and {stat.S_IMODE(p.stat().st_mode) for p in created} == {0o600}
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    (tmp_path / "planted.sqlite3").symlink_to(tmp_path / "elsewhere.sqlite3")
    with pytest.raises(UnsafePathError):
        EventStore(tmp_path / "planted.sqlite3")
    assert not (tmp_path / "elsewhere.sqlite3").exists()
