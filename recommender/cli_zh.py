"""The command line in Chinese: help pages and Typer/Click's own usage errors.

Typer bundles its own copy of Click whose texts are English literals (no gettext catalogue),
so the CLI uses command classes (:class:`ZhCommand`, :class:`ZhGroup`) that relabel the help
page (用法、选项、命令、默认、必填) and :func:`usage_error_text` that words each kind of usage
error in Chinese from the exception's fields, not from its English message.
"""

from __future__ import annotations

import re
from typing import Any

from typer import rich_utils
from typer.core import TyperCommand, TyperGroup

__all__ = ["HELP_OPTION_TEXT", "ZhCommand", "ZhGroup", "usage_error_text"]

HELP_OPTION_TEXT = "显示本帮助并退出"

#: typer.rich_utils labels → Chinese (read by the help renderer at call time)
_RICH_LABELS = {
    "DEFAULT_STRING": "[默认：{}]",
    "ENVVAR_STRING": "[环境变量：{}]",
    "REQUIRED_LONG_STRING": "[必填]",
    "ARGUMENTS_PANEL_TITLE": "参数",
    "OPTIONS_PANEL_TITLE": "选项",
    "COMMANDS_PANEL_TITLE": "命令",
    "ERRORS_PANEL_TITLE": "错误",
    "ABORTED_TEXT": "已中止。",
    "RICH_HELP": "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。",
    "DEPRECATED_STRING": "（已弃用）",
}


def _chinese_labels() -> None:
    """Relabel Typer's help renderer (idempotent; only the CLI's process is affected)."""
    for name, text in _RICH_LABELS.items():
        setattr(rich_utils, name, text)


def _zh_usage(text: str) -> str:
    return (
        text.replace("Usage: ", "用法：")
        .replace("Usage:", "用法：")
        .replace("[OPTIONS]", "[选项]")
        .replace("COMMAND [ARGS]...", "命令 [参数]...")
    )


class _Chinese:
    """Shared overrides of the help option's text and the usage line."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = HELP_OPTION_TEXT
        return option

    def get_usage(self, ctx: Any) -> str:
        return _zh_usage(super().get_usage(ctx))  # type: ignore[misc]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _chinese_labels()
        super().format_help(ctx, formatter)  # type: ignore[misc]


class ZhCommand(_Chinese, TyperCommand):
    """A Typer command whose help page is labelled in Chinese."""


class ZhGroup(_Chinese, TyperGroup):
    """A Typer command group whose help page is labelled in Chinese."""


_PARAM_TYPES = {"option": "选项", "argument": "参数", "parameter": "参数"}

#: English messages of Click's parameter types and parser → Chinese (regex, replacement)
_MESSAGES: list[tuple[str, str]] = [
    (r"^Input should be greater than or equal to (.*?)\.?$", r"应不小于 \1"),
    (r"^Input should be greater than (.*?)\.?$", r"应大于 \1"),
    (r"^Input should be less than or equal to (.*?)\.?$", r"应不大于 \1"),
    (r"^Input should be less than (.*?)\.?$", r"应小于 \1"),
    (r"^Input should be a valid integer.*$", "应为整数"),
    (r"^Input should be a valid number.*$", "应为数字"),
    (r"^Input should be a valid boolean.*$", "应为 true 或 false"),
    (r"^Input should be (.*?)\.?$", r"应为 \1"),
    (r"^Value '?(.*?)'? is not a valid (.*?)\.?$", r"'\1' 不是有效的 \2"),
    (r"^'?(.*?)'? does not match the formats (.*?)\.?$", r"'\1' 不符合格式 \2"),
    (r"^(?:File|Path|Directory) '?(.*?)'? does not exist\.?$", r"路径 '\1' 不存在"),
    (r"^(?:File|Path) '?(.*?)'? is a directory\.?$", r"'\1' 是目录，应为文件"),
    (r"^(?:Directory|Path) '?(.*?)'? is a file\.?$", r"'\1' 是文件，应为目录"),
    (r"^Option '?(.*?)'? requires an argument\.?$", r"选项 '\1' 需要一个值"),
    (r"^Option '?(.*?)'? requires (\d+) arguments\.?$", r"选项 '\1' 需要 \2 个值"),
    (r"^Option '?(.*?)'? does not take a value\.?$", r"选项 '\1' 不接受值"),
    (r"^Got unexpected extra argument(?:s|\(s\))? \((.*)\)\.?$", r"多余的参数：\1"),
    (r"^No such command '?(.*?)'?\.?$", r"没有命令 '\1'"),
    (r"^Missing command\.?$", "缺少命令"),
    (r"^No such option: (\S+)$", r"没有选项 \1"),
]


def _translate(message: str) -> str:
    """Click's English message in Chinese when it is one of the known forms (else as is)."""
    text = message.strip()
    for pattern, repl in _MESSAGES:
        if re.match(pattern, text, flags=re.S):
            return re.sub(pattern, repl, text, flags=re.S)
    return text


def _hint(exc: Any) -> str | None:
    hint = getattr(exc, "param_hint", None)
    if hint is None and getattr(exc, "param", None) is not None:
        hint = exc.param.get_error_hint()
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(h) for h in hint)
    return hint


def _message(exc: Any) -> str:
    """The error sentence of a Click usage error, in Chinese."""
    kind = type(exc).__name__
    if kind == "MissingParameter":
        param_type = exc.param_type or getattr(exc.param, "param_type_name", "parameter")
        hint = _hint(exc)
        what = _PARAM_TYPES.get(param_type, "参数")
        return f"缺少{what} {hint}" if hint else f"缺少{what}"
    if kind == "NoSuchOption":
        text = f"没有选项 {exc.option_name}"
        if exc.possibilities:
            text += f"（您是否要用：{'、'.join(sorted(exc.possibilities))}）"
        return text
    message = _translate(str(exc.message))
    if kind == "BadParameter":
        hint = _hint(exc)
        return f"{hint} 的值无效：{message}" if hint else f"值无效：{message}"
    return message


def usage_error_text(exc: Any) -> str:
    """What to print for a Click usage error: the usage line, where help is, the error."""
    lines = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        lines.append(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            lines.append(f"运行 '{ctx.command_path} {ctx.help_option_names[0]}' 查看帮助。")
        lines.append("")
    else:
        lines.append("用法：recommender 命令 [选项]；运行 'recommender 命令 --help' 查看帮助。")
    lines.append(f"错误：{_message(exc)}")
    return "\n".join(lines)
