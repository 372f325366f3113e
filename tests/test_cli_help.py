"""The command line speaks Chinese: every description in ``--help`` and Click's own usage errors.

Option names stay English (scripts use them); what they mean is said in Chinese.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from recommender.cli import app

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u3400-\u9fff]")


def _commands(group, path=()):
    """(command path, click command) for every command and group, depth first."""
    yield path, group
    for name, cmd in getattr(group, "commands", {}).items():
        yield from _commands(cmd, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _cjk_share(text: str) -> float:
    """CJK characters among the letters of ``text`` (example lines left out: they are
    commands, not description)."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("例：")]
    letters = [ch for ch in "\n".join(lines) if ch.isalpha()]
    return sum(bool(CJK.match(ch)) for ch in letters) / max(1, len(letters))


def _descriptions(cmd) -> list[tuple[str, str]]:
    out = [("(command)", cmd.help or "")]
    for p in cmd.params:
        if p.name == "help":
            continue
        out.append((p.name, getattr(p, "help", None) or ""))
    return out


def test_every_command_is_checked():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"train", "recommend", "menu", "menus", "gaps", "report", "keys add", "db upgrade"} <= (
        names
    )


@pytest.mark.parametrize(
    "path,cmd", COMMANDS, ids=[" ".join(p) or "recommender" for p, _ in COMMANDS]
)
def test_help_descriptions_are_chinese(path, cmd):
    for name, text in _descriptions(cmd):
        assert text.strip(), f"{' '.join(path)} {name}: no help text"
        share = _cjk_share(text)
        assert share >= 0.5, f"{' '.join(path)} {name}: only {share:.0%} CJK: {text!r}"


@pytest.mark.parametrize(
    "path,cmd", COMMANDS, ids=[" ".join(p) or "recommender" for p, _ in COMMANDS]
)
def test_help_page_is_labelled_in_chinese(path, cmd):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "用法：" in out and "选项" in out and "显示本帮助并退出" in out
    for english in ("Usage:", "Options", "Show this message", "[default:", "[required]"):
        assert english not in out, f"{' '.join(path)}: {english!r} in help"
    assert _cjk_share(out) > 0.2  # option names, paths and examples are the rest


@pytest.mark.parametrize(
    "args,expect",
    [
        (["gaps"], "缺少选项 '--out'"),
        (["recommend", "-k", "0"], "'-k' 的值无效：应不小于 1"),
        (["recommend", "-k", "abc"], "应为整数"),
        (["train", "--bogus"], "没有选项 --bogus"),
        (["nope"], "没有命令 'nope'"),
        (["validate", "a", "b"], "多余的参数：b"),
        (["recommend", "--output"], "选项 '--output' 需要一个值"),
        (["keys", "add"], "缺少参数 '名称'"),
    ],
)
def test_usage_errors_are_chinese(args, expect):
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert expect in err, err
    assert "错误：" in err and "用法：" in err and "查看帮助" in err
    assert "Error:" not in err and "Usage:" not in err and "Try '" not in err


def test_no_message_names_a_flag_that_does_not_exist():
    """Every ``--flag`` written in the library's strings (messages, hints, docstrings shown as
    help) is an option of some command: `gaps` once told users to pass a `--courses` it lacked."""
    import ast

    options = {
        opt
        for _, cmd in COMMANDS
        for p in cmd.params
        for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))
    }
    options |= {"--help"}
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]*[a-z]")
    wrong = []
    for path in sorted((ROOT / "recommender").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # messages people read are Chinese; English strings are code, docs or other
            # programs' arguments (Spark's --webui-port)
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and CJK.search(node.value)
            ):
                for name in flag.findall(node.value):
                    if name not in options:
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not wrong, "\n".join(wrong)
