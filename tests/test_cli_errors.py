"""Every CLI command, given malformed input, fails with one line naming the problem.

``python -m recommender …`` runs in a subprocess (as a user runs it): exit 1 for a failure
(2 for a usage error), no traceback, and a message that names the file, column or id. The
commands run concurrently (a few at a time) so the module stays quick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from recommender.lifecycle.artifacts import MODEL_FILE, resolve

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    mentions: tuple[str, ...]  # substrings (case-insensitive) the output must contain


def _cases(tiny_data: Path, tiny_models: Path, tmp: Path) -> list[Case]:
    missing = str(tmp / "no-such-dir")
    empty = tmp / "empty"
    empty.mkdir()
    zero = tmp / "zero-bytes"
    zero.mkdir()
    for name in ("courses", "cadres", "completions"):
        (zero / f"{name}.csv").write_bytes(b"")
    garbage = tmp / "garbage"
    garbage.mkdir()
    for name in ("courses", "cadres", "completions"):
        (garbage / f"{name}.csv").write_bytes(os.urandom(2048))
    nocol = tmp / "no-title"
    shutil.copytree(tiny_data, nocol)
    lines = (nocol / "courses.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    i = header.index("title")
    (nocol / "courses.csv").write_text(
        "\n".join(",".join(c for j, c in enumerate(ln.split(",")) if j != i) for ln in lines[:5]),
        encoding="utf-8",
    )
    corrupt = tmp / "corrupt-model"
    shutil.copytree(resolve(tiny_models), corrupt)
    (corrupt / MODEL_FILE).write_bytes(b"not a pickle at all" * 50)
    badmeta = tmp / "bad-metadata"
    shutil.copytree(resolve(tiny_models), badmeta)
    (badmeta / "metadata.json").write_text("{ this is not json", encoding="utf-8")
    a_file = tmp / "a-file"
    a_file.write_text("x")
    bad_rules = tmp / "bad-rules.toml"
    bad_rules.write_text(
        '[targets.annual_hours]\n"乡科级" = 140\n[formats]\ncentralised = ["hologram"]\n',
        encoding="utf-8",
    )
    m = str(tiny_models)
    return [
        # validate
        Case("validate-missing-dir", ("validate", missing), 1, ("no-such-dir",)),
        Case("validate-empty-dir", ("validate", str(empty)), 1, ("courses",)),
        Case("validate-zero-byte-files", ("validate", str(zero)), 1, ("courses",)),
        Case("validate-garbage-csv", ("validate", str(garbage)), 1, ("courses",)),
        Case("validate-missing-column", ("validate", str(nocol)), 1, ("title", "courses")),
        # train
        Case(
            "train-missing-dir",
            ("train", "--data", missing, "--out", str(tmp / "m1")),
            1,
            ("no-such-dir",),
        ),
        Case(
            "train-garbage",
            ("train", "--data", str(garbage), "--out", str(tmp / "m2")),
            1,
            ("courses",),
        ),
        Case(
            "train-bad-option",
            ("train", "--data", str(tiny_data), "--collaborative", "svd"),
            2,
            ("collaborative",),
        ),
        # recommend
        Case(
            "recommend-missing-model",
            ("recommend", "--model", missing, "--cadre", "X"),
            1,
            ("no-such-dir",),
        ),
        Case(
            "recommend-corrupt-model",
            ("recommend", "--model", str(corrupt), "--cadre", "X"),
            1,
            (MODEL_FILE,),
        ),
        Case(
            "recommend-bad-metadata",
            ("recommend", "--model", str(badmeta), "--cadre", "X"),
            1,
            ("metadata.json",),
        ),
        Case(
            "recommend-unknown-cadre",
            ("recommend", "--model", m, "--cadre", "NO-SUCH-CADRE"),
            1,
            ("NO-SUCH-CADRE",),
        ),
        Case("recommend-no-cadre", ("recommend", "--model", m), 2, ("--cadre",)),
        Case(
            "recommend-k-zero", ("recommend", "--model", m, "--cadre", "X", "-k", "0"), 2, ("-k",)
        ),
        Case(
            "recommend-missing-cadres-file",
            (
                "recommend",
                "--model",
                m,
                "--cadres",
                str(tmp / "ids.txt"),
                "--output",
                str(tmp / "out.csv"),
            ),
            1,
            ("ids.txt",),
        ),
        # evaluate
        Case("evaluate-missing-dir", ("evaluate", "--data", missing), 1, ("no-such-dir",)),
        Case(
            "evaluate-bad-split",
            ("evaluate", "--data", str(tiny_data), "--split", "kfold"),
            2,
            ("split",),
        ),
        Case(
            "evaluate-bad-fraction",
            ("evaluate", "--data", str(tiny_data), "--fraction", "5"),
            2,
            ("fraction",),
        ),
        # menu
        Case(
            "menu-unknown-cadre",
            ("menu", "--model", m, "--cadre", "NO-SUCH-CADRE"),
            1,
            ("NO-SUCH-CADRE",),
        ),
        Case(
            "menu-corrupt-model",
            ("menu", "--model", str(corrupt), "--cadre", "X"),
            1,
            (MODEL_FILE,),
        ),
        Case(
            "menu-negative-hours",
            ("menu", "--model", m, "--cadre", "X", "--target-hours", "-5"),
            2,
            ("target-hours",),
        ),
        Case("menu-no-cadre", ("menu", "--model", m), 2, ("--cadre",)),
        Case(
            "menu-bad-as-of",
            ("menu", "--model", m, "--cadre", "X", "--as-of", "2026-13-01"),
            2,
            ("--as-of", "YYYY-MM-DD"),
        ),
        Case(
            "menu-missing-rules",
            ("menu", "--model", m, "--cadre", "X", "--rules", str(tmp / "no-rules.toml")),
            1,
            ("no-rules.toml", "规则"),
        ),
        Case(
            "validate-bad-rules",
            ("validate", str(tiny_data), "--rules", str(bad_rules)),
            1,
            ("bad-rules.toml", "hologram"),
        ),
        # menus (a unit's workbook)
        Case(
            "menus-no-unit", ("menus", "--model", m, "--out", str(tmp / "u.xlsx")), 2, ("--unit",)
        ),
        Case(
            "menus-unknown-unit",
            ("menus", "--model", m, "--unit", "无此单位", "--out", str(tmp / "u.xlsx")),
            1,
            ("无此单位",),
        ),
        Case(
            "menus-not-xlsx",
            ("menus", "--model", m, "--unit", "镇", "--out", str(tmp / "u.csv")),
            2,
            ("xlsx",),
        ),
        Case(
            "recommend-bad-output-suffix",
            ("recommend", "--model", m, "--cadres", str(a_file), "--output", str(tmp / "r.txt")),
            1,
            ("a-file",),
        ),
        # gaps
        Case(
            "gaps-missing-dir",
            ("gaps", "--data", missing, "--out", str(tmp / "g.xlsx")),
            1,
            ("no-such-dir",),
        ),
        Case("gaps-no-out", ("gaps", "--data", str(tiny_data)), 2, ("--out",)),
        Case(
            "gaps-missing-dir", ("gaps", "--data", missing, "--out", "g.xlsx"), 1, ("no-such-dir",)
        ),
        # report (fails before any notebook runs)
        Case("report-not-html", ("report", "--out", "报告.xlsx"), 2, ("--out", ".html")),
        Case(
            "report-no-notebooks",
            ("report", "--data", str(tiny_data), "--notebooks", str(empty), "--out", "r.html"),
            1,
            ("没有笔记本",),
        ),
        Case(
            "report-one-file-only",
            ("report", "--courses", str(tiny_data / "courses.csv"), "--out", "r.html"),
            2,
            ("--cadres", "--completions"),
        ),
        # serve (fails before binding a port)
        Case(
            "serve-missing-model", ("serve", "--model", missing, "--port", "1"), 1, ("no-such-dir",)
        ),
        Case("serve-bad-port", ("serve", "--model", m, "--port", "70000"), 2, ("port",)),
        Case(
            "serve-corrupt-metadata",
            ("serve", "--model", str(badmeta), "--port", "1"),
            1,
            ("metadata.json",),
        ),
        # the CLI itself
        Case("unknown-command", ("frobnicate",), 2, ("frobnicate",)),
    ]


def _run(case: Case) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XUANXUE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "recommender", *case.args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def outcomes(tiny_data, tiny_models, tmp_path_factory) -> dict[str, tuple]:
    cases = _cases(tiny_data, tiny_models, tmp_path_factory.mktemp("cli_errors"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_run, cases))
    return {c.id: (c, r) for c, r in zip(cases, results, strict=True)}


CASE_IDS = [
    "validate-missing-dir",
    "validate-empty-dir",
    "validate-zero-byte-files",
    "validate-garbage-csv",
    "validate-missing-column",
    "train-missing-dir",
    "train-garbage",
    "train-bad-option",
    "recommend-missing-model",
    "recommend-corrupt-model",
    "recommend-bad-metadata",
    "recommend-unknown-cadre",
    "recommend-no-cadre",
    "recommend-k-zero",
    "recommend-missing-cadres-file",
    "evaluate-missing-dir",
    "evaluate-bad-split",
    "evaluate-bad-fraction",
    "menu-unknown-cadre",
    "menu-corrupt-model",
    "menu-negative-hours",
    "menu-no-cadre",
    "menu-bad-as-of",
    "menu-missing-rules",
    "validate-bad-rules",
    "menus-no-unit",
    "menus-unknown-unit",
    "menus-not-xlsx",
    "recommend-bad-output-suffix",
    "gaps-missing-dir",
    "gaps-no-out",
    "serve-missing-model",
    "serve-bad-port",
    "serve-corrupt-metadata",
    "unknown-command",
]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_cli_fails_cleanly(outcomes, case_id):
    case, proc = outcomes[case_id]
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, f"{case.args}: traceback shown\n{output[-2000:]}"
    assert proc.returncode == case.code, (
        f"{case.args}: exit {proc.returncode}, expected {case.code}\n{output[-2000:]}"
    )
    for word in case.mentions:
        assert word.lower() in output.lower(), f"{case.args}: no mention of {word!r}\n{output}"


def test_every_command_is_covered(outcomes):
    """A new command needs malformed-input cases here too."""
    from recommender.cli import app

    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    covered = {case.args[0] for case, _ in outcomes.values()}
    assert not commands - covered, f"commands without error cases: {commands - covered}"
