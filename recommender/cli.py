"""Command line: ``recommender <command>`` (also ``python -m recommender``).

Exit codes: 0 ok, 1 failed with a message (never a traceback), 2 usage error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="xuanxue (选学): personalised course menus for cadre training.",
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Path, typer.Option("--data", help="data directory (courses, cadres, completions)")
]
ModelPath = Annotated[Path, typer.Option("--model", help="model version dir or models root")]
#: the service's event store by default, so the CLI and HTTP give the same answer
EventsOption = Annotated[
    str | None,
    typer.Option(
        "--events",
        envvar="XUANXUE_EVENTS_URL",
        help="completion events: postgresql://…, sqlite:///PATH or a path "
        "(default: the service's var/events.sqlite3 when it exists; 'none' to ignore)",
    ),
]
DEFAULT_EVENTS = Path("var/events.sqlite3")
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        envvar="XUANXUE_RULES",
        help="training rules file (TOML, layout of recommender/resources/training_rules.toml; "
        "default: XUANXUE_RULES, else the packaged rules)",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="plan as of this day, YYYY-MM-DD (default: today); the year defaults to it"
    ),
]


def _event_source(events: str | None):
    """The event store the service writes to, or ``None`` when there is none."""
    if events is not None and events.strip().lower() == "none":
        return None
    if events is None:
        if not DEFAULT_EVENTS.exists():
            return None
        events = str(DEFAULT_EVENTS)
    from recommender.lifecycle.events import open_event_store

    try:
        return open_event_store(events)
    except Exception as exc:  # unreachable database, unreadable file
        raise CLIError(f"无法打开事件库 {events}：{exc}") from exc


class CLIError(Exception):
    """A failure to report in one line and exit 1."""


def _rules(path: Path | None):
    """The training rules of ``--rules`` (or XUANXUE_RULES, or the packaged file)."""
    from recommender.data.rules import RulesError, load_rules

    try:
        return load_rules(path)
    except RulesError as exc:
        raise CLIError(f"规则文件有误：{exc}") from exc


def _load(model: Path, rules: Path | None):
    """The model at ``model`` planning with the rules of ``--rules`` (when given)."""
    from recommender.lifecycle.artifacts import load_model

    m = load_model(model)
    if rules is not None:
        m.rules = _rules(rules)
    return m


def _as_of(value: str | None):
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"日期应为 YYYY-MM-DD（如 2026-03-01），而不是 {value!r}", param_hint="--as-of"
        ) from None


def _rules_warnings(rules, courses) -> list[str]:
    """What the rules name that the catalog lacks (categories, groups, formats)."""
    from recommender.data.schema import Columns as C

    return rules.catalog_warnings(
        courses[C.CATEGORY].dropna().astype(str).unique(),
        courses[C.FORMAT].dropna().astype(str).unique(),
    )


def _progress() -> bool:
    return sys.stderr.isatty()


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


CoursesFile = Annotated[
    Path | None, typer.Option("--courses", help="courses table file (when not DATA/courses.*)")
]
CadresFile = Annotated[
    Path | None, typer.Option("--cadres", help="cadres table file (when not DATA/cadres.*)")
]
CompletionsFile = Annotated[
    Path | None,
    typer.Option("--completions", help="completions table file (when not DATA/completions.*)"),
]
SheetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--sheet",
        help="workbook sheet to read: NAME, or TABLE=NAME (repeatable); default: the first "
        "sheet holding the required columns",
    ),
]


def _table_files(data, courses, cadres, completions, sheets) -> tuple:
    """(data dir, {table: file}, sheet choice) from the shared data options."""
    files = {"courses": courses, "cadres": cadres, "completions": completions}
    if data is None:
        missing = [f"--{k}" for k, v in files.items() if v is None]
        if missing:
            raise typer.BadParameter(
                f"请给出数据目录，或全部三个表文件（缺少 {'、'.join(missing)}）",
                param_hint="DATA / --data",
            )
        data = courses.parent
    choice: dict[str, str] = {}
    for item in sheets or []:
        table, _, name = item.partition("=")
        if name and table in files:
            choice[table] = name
        else:
            choice.update(dict.fromkeys(files, item))
    return data, files, choice or None


@app.command()
def validate(
    data: Annotated[Path | None, typer.Argument(help="data directory")] = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    sheet: SheetOption = None,
    rules: RulesOption = None,
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="exit 0 even when rows were rejected")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Load and check the data; print counts, rejects per table and reason, and warnings.

    Warns when a rule (category minimum, centralised/online split) names a category, group or
    format the catalog lacks. Exits 1 when rows were rejected (see DATA/<table>.rejects.csv),
    unless --allow-rejects.

    Example: recommender validate data/sample
    Example: recommender validate --courses 课程.xlsx --cadres 干部.xlsx --completions 记录.csv
    """
    from recommender.data.loading import load_dataset

    data, files, choice = _table_files(data, courses, cadres, completions, sheet)
    ds = load_dataset(data, files=files, sheet=choice)
    warnings = [*ds.warnings, *_rules_warnings(_rules(rules), ds.courses)]
    if json_out:
        _echo_json(
            {
                "summary": ds.summary().to_dict("records"),
                "tables": ds.load_report(),
                "rejects": ds.rejects_by_reason().to_dict("records"),
                "warnings": warnings,
            }
        )
    else:
        for line in ds.report_lines():
            typer.echo(line)
        for w in warnings:
            typer.echo(f"警告：{w}")
    if ds.rows_rejected and not allow_rejects:
        raise CLIError(
            f"共拒收 {ds.rows_rejected} 行（原因见上，逐行明细见 <表名>.rejects.csv）；"
            "修正数据后重试，或加 --allow-rejects 接受这些拒收"
        )


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option("--data", help="data directory (courses, cadres, completions)")
    ] = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    sheet: SheetOption = None,
    out: Annotated[Path, typer.Option("--out", help="models root")] = Path("models"),
    rules: RulesOption = None,
    publish: Annotated[bool, typer.Option(help="point MODELS/current at the new version")] = True,
    events: Annotated[
        str | None,
        typer.Option(
            help="event store: a path, sqlite:///PATH or postgresql://… "
            "(default DATA/events.sqlite3)"
        ),
    ] = None,
    collaborative: Annotated[str, typer.Option(help="auto | ease | itemknn")] = "auto",
    seed: int = 0,
) -> None:
    """Train on a data directory, write MODELS/<version>/ and publish MODELS/current.

    The rules file's path and SHA-256 go into the metadata (menus read the rules when the
    model is loaded: pass the same --rules / XUANXUE_RULES to menu, menus and serve;
    `validate --rules` checks them against the catalog).

    Example: recommender train --data data/sample --out models
    Example: recommender train --courses 课程.xlsx --cadres 干部.xlsx --completions 记录.csv
    """
    from recommender.lifecycle.train import train as run
    from recommender.ranking.pipeline import TrainConfig

    if collaborative not in ("auto", "ease", "itemknn"):
        raise typer.BadParameter(
            f"未知的协同过滤模型 {collaborative!r}（可选 auto、ease、itemknn）",
            param_hint="--collaborative",
        )
    data, files, choice = _table_files(data, courses, cadres, completions, sheet)
    _rules(rules)  # a broken rules file fails before the training, not after
    path = run(
        data,
        out,
        config=TrainConfig.of(collaborative=collaborative, seed=seed),
        publish=publish,
        events_path=events,
        files=files,
        sheet=choice,
        rules=rules,
    )
    meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    from recommender.data.loading import format_load_report

    for line in format_load_report(meta.get("load", []), rejects_dir=str(data)):
        typer.echo(line)
    typer.echo(
        f"已训练模型 {meta['model_version']}，用时 {meta['trained_seconds']} 秒 → {path}"
        + ("（已发布）" if publish else "（未发布）")
    )


@app.command()
def recommend(
    model: ModelPath = Path("models"),
    cadre: Annotated[str | None, typer.Option(help="one cadre_id")] = None,
    cadres: Annotated[Path | None, typer.Option(help="file with one cadre_id a line")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200)] = 10,
    output: Annotated[
        Path | None, typer.Option(help="batch output: .csv or .xlsx (titles, categories, hours…)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
    include_compulsory: Annotated[
        bool, typer.Option("--include-compulsory", help="also list compulsory courses")
    ] = False,
    events: EventsOption = None,
) -> None:
    """Recommend elective courses for one cadre, or for a file of cadres into a CSV/xlsx.

    Completion events the service has stored count, as they do over HTTP. The batch file has
    cadre_id, rank, course_id, score, title, category, format, credit_hours, reason.

    Example: recommender recommend --model models --cadre G000002 -k 10
    Example: recommender recommend --model models --cadres ids.txt --output 推荐.xlsx
    """
    if (cadre is None) == (cadres is None):
        raise typer.BadParameter("请给出 --cadre 或 --cadres 二者之一", param_hint="--cadre")
    if cadres is not None and output is None:
        raise typer.BadParameter(
            "--cadres 需要 --output 文件（.csv 或 .xlsx）", param_hint="--output"
        )
    m = _load(model, None)
    source = _event_source(events)
    if cadres is not None:
        _recommend_batch(m, cadres, k, output, source, include_compulsory)
        return
    recs = _known(m, m.recommend, cadre, k, events=source, include_compulsory=include_compulsory)
    if json_out:
        _echo_json(
            {"model_version": m.version, "cadre_id": cadre, "items": [r.to_dict() for r in recs]}
        )
        return
    for r in recs:
        typer.echo(
            f"{r.rank:>2}. {r.course_id} {r.title}（{r.category}，{r.credit_hours:g} 学时）"
            f" {r.score:.3f}\n    {r.reason_text}"
        )


def _recommend_batch(m, cadres: Path, k: int, output: Path, source, include_compulsory) -> None:
    from recommender.menu.unit import UnitError, recommendation_table, write_table

    ids = _cadre_ids(m, cadres)
    table = recommendation_table(
        m, ids, k, events=source, include_compulsory=include_compulsory, progress=_progress()
    )
    try:
        write_table(table, output)
    except UnitError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(f"已写出 {len(ids)} 名干部、每人最多 {k} 门推荐课程 → {output}")


def _cadre_ids(m, path: Path) -> list[str]:
    """The cadre ids of a file (one a line); every one must be known to the model."""
    ids = [ln.strip() for ln in _read_lines(path) if ln.strip()]
    if not ids:
        raise CLIError(f"{path}：文件中没有干部编号（每行一个 cadre_id）")
    unknown = [c for c in ids if not m.has_cadre(c)]
    if unknown:
        why = _rejected_at_load(m, "cadre", unknown[0])
        raise CLIError(
            f"{path}：{len(unknown)} 个干部编号不在模型的训练数据中（unknown cadre_id），"
            f"例如 {'、'.join(unknown[:3])}"
            + (f"；{unknown[0]} 在训练数据加载时被拒收：{why}" if why else "")
        )
    return ids


def _rejected_at_load(m, kind: str, value: str) -> str | None:
    """Why the row of ``value`` was rejected when the model's data was loaded, if it was."""
    return (m.metadata.get("rejected_ids") or {}).get(f"{kind}_id", {}).get(value)


def _known(m, fn, *args, **kwargs):
    """Call ``fn``; an unknown id says whether its row was rejected at load, and why."""
    from recommender.ranking.model import UnknownIdError

    try:
        return fn(*args, **kwargs)
    except UnknownIdError as exc:
        label = {"cadre": "干部", "course": "课程"}.get(exc.kind, exc.kind)
        why = _rejected_at_load(m, exc.kind, exc.value)
        if why:
            raise CLIError(
                f"未知{label} {exc.value!r}（unknown {exc.kind}）：该{label}的行在训练数据加载时"
                f"被拒收——{why}；修正数据后重新训练"
            ) from exc
        hint = (
            "；新干部可用 POST /v1/recommendations 提交画像获得推荐" if exc.kind == "cadre" else ""
        )
        raise CLIError(
            f"未知{label} {exc.value!r}（unknown {exc.kind}）：模型 {m.version} 的训练数据中"
            f"没有该{label}{hint}"
        ) from exc


def _read_lines(path: Path) -> list[str]:
    from recommender.data.readers import decode_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CLIError(f"{path}：无法读取（{exc.strerror}）") from exc
    return decode_bytes(data, path).splitlines()


def _read_test_file(path: Path):
    """A held-out ``cadre_id,course_id`` table (any encoding the loader reads)."""
    import pandas as pd

    from recommender.data.readers import decode_bytes

    try:
        text = decode_bytes(path.read_bytes(), path)
    except OSError as exc:
        raise CLIError(f"无法读取测试文件 {path}：{exc}") from exc
    import io

    frame = pd.read_csv(io.StringIO(text), dtype=str)
    missing = {"cadre_id", "course_id"} - set(frame.columns)
    if missing:
        raise CLIError(f"{path}：缺少列 {', '.join(sorted(missing))}（需要 cadre_id,course_id）")
    return frame


@app.command()
def evaluate(
    data: DataDir,
    split: Annotated[str, typer.Option(help="temporal | leave-last | random")] = "temporal",
    k: Annotated[int, typer.Option("-k", min=1, max=100)] = 10,
    fraction: Annotated[float, typer.Option(min=0.01, max=0.9)] = 0.2,
    out: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    relevant: Annotated[
        str, typer.Option(help="chosen (self-selected) | all (with assigned)")
    ] = "chosen",
    test: Annotated[
        Path | None,
        typer.Option(help="held-out file (cadre_id,course_id): train on all of --data, score it"),
    ] = None,
    seed: int = 0,
) -> None:
    """Train on a split and print the metrics table with baselines.

    Example: recommender evaluate --data data/sample --out eval.json
    """
    from recommender.data.loading import load_dataset
    from recommender.lifecycle.evaluate import SPLITS, format_table
    from recommender.lifecycle.evaluate import evaluate as run
    from recommender.ranking.pipeline import TrainConfig

    if split not in SPLITS:
        raise typer.BadParameter(
            f"未知的划分方式 {split!r}（可选 {'、'.join(SPLITS)}）", param_hint="--split"
        )
    report = run(
        load_dataset(data),
        split=split,
        k=k,
        fraction=fraction,
        config=TrainConfig.of(seed=seed),
        progress=_progress(),
        relevant=relevant,
        test=_read_test_file(test) if test is not None else None,
    )
    typer.echo(format_table(report))
    d = report.details
    typer.echo(
        f"\n划分 split={split}，测试干部 {d['test_cadres']} 人（其中新干部 {d['cold_cadres']}），"
        f"无学习记录的课程 {d['cold_courses']}/{d['n_courses']}，信号 {','.join(d['signals'])}"
    )
    if out:
        out.write_text(
            json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str),
            encoding="utf-8",
        )
        typer.echo(f"评估报告 → {out}")


@app.command()
def menu(
    model: ModelPath = Path("models"),
    cadre: Annotated[str, typer.Option(help="cadre_id")] = ...,
    year: Annotated[
        int | None, typer.Option(help="plan year (default: the calendar year of --as-of)")
    ] = None,
    as_of: AsOfOption = None,
    target_hours: Annotated[float | None, typer.Option(min=0)] = None,
    hours_credited: Annotated[float, typer.Option(min=0)] = 0.0,
    weekly_budget: Annotated[float | None, typer.Option(min=0)] = None,
    rules: RulesOption = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
    events: EventsOption = None,
) -> None:
    """Plan a personal course menu for one cadre (stored completion events count).

    The plan covers the rest of the current year from today (--as-of); another --year is
    planned whole, from 1 January.

    Example: recommender menu --model models --cadre G000002 --target-hours 50
    Example: recommender menu --model models --cadre G000002 --year 2026 --as-of 2026-01-01
    """
    from recommender.menu.planning import plan_menu

    m = _load(model, rules)
    result = _known(
        m,
        plan_menu,
        m,
        cadre,
        year=year,
        as_of=_as_of(as_of),
        target_hours=target_hours,
        hours_credited=hours_credited,
        weekly_hours_budget=weekly_budget,
        events=_event_source(events),
    )
    if json_out:
        _echo_json({"model_version": m.version, **result.to_dict()})
        return
    typer.echo(
        f"{cadre} {result.year} 年：计划 {result.planned_hours:g}/{result.target_hours:g} 学时"
        f"（已获 {result.hours_credited:g}）  {'全部达标' if result.met else '未全部达标'}"
    )
    for it in result.items:
        when = it.session_start if it.session_start is not None else f"第 {it.week} 周起"
        typer.echo(
            f"- {it.course_id} {it.title}（{it.category}，{_label(it.format)}，"
            f"{it.credit_hours:g} 学时，{when}）\n    {it.reason}"
        )
    for u in result.unmet:
        typer.echo(f"未满足 {u.constraint}：{u.message}")


def _label(code: str) -> str:
    from recommender.data.cells import VALUE_LABELS

    return VALUE_LABELS.get(code, code)


@app.command()
def menus(
    out: Annotated[Path, typer.Option("--out", help="workbook to write (.xlsx)")],
    model: ModelPath = Path("models"),
    unit: Annotated[
        str | None, typer.Option(help="单位: its full name, or a part of it (all matching units)")
    ] = None,
    cadres: Annotated[Path | None, typer.Option(help="file with one cadre_id a line")] = None,
    year: Annotated[
        int | None, typer.Option(help="plan year (default: the calendar year of --as-of)")
    ] = None,
    as_of: AsOfOption = None,
    rules: RulesOption = None,
    events: EventsOption = None,
) -> None:
    """Course menus for a whole unit (or a list of cadres) as one Excel workbook.

    Sheets: 课程菜单 (cadre, course, category, format, hours, session or week, reason) and
    汇总 (per cadre: target / planned hours, centralised and online hours, met or what is
    unmet and why; a 合计 row).

    Example: recommender menus --model models --unit 积玉口镇 --out 菜单.xlsx
    Example: recommender menus --model models --cadres ids.txt --out 菜单.xlsx --as-of 2026-01-01
    """
    from recommender.menu.unit import UnitError, plan_menus, unit_cadres, write_menus_workbook

    if (unit is None) == (cadres is None):
        raise typer.BadParameter("请给出 --unit 或 --cadres 二者之一", param_hint="--unit")
    if out.suffix.lower() != ".xlsx":
        raise typer.BadParameter(f"输出文件须为 .xlsx，而不是 {out.name!r}", param_hint="--out")
    m = _load(model, rules)
    try:
        ids = unit_cadres(m, unit) if unit is not None else _cadre_ids(m, cadres)
        result = plan_menus(
            m,
            ids,
            progress=_progress(),
            year=year,
            as_of=_as_of(as_of),
            events=_event_source(events),
        )
        write_menus_workbook(m, result, out)
    except UnitError as exc:
        raise CLIError(str(exc)) from exc
    met = sum(x.met for x in result)
    typer.echo(f"已写出 {len(result)} 名干部的课程菜单（{met} 人全部达标）→ {out}")


@app.command()
def gaps(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Excel workbook to write")],
    model: Annotated[Path | None, typer.Option("--model")] = None,
) -> None:
    """Planners' demand-gap report as an Excel workbook (one sheet per table).

    Example: recommender gaps --data data/sample --model models --out gaps.xlsx
    """
    from recommender.insights.report import write_gap_report
    from recommender.lifecycle.artifacts import load_model

    loaded = load_model(model) if model is not None else None
    path = write_gap_report(data, out, model=loaded)
    typer.echo(f"需求缺口报告 → {path}")


keys_app = typer.Typer(
    no_args_is_help=True,
    help="API keys of the HTTP service (scopes read, write, admin; stored hashed).",
)
app.add_typer(keys_app, name="keys")
KeysFile = Annotated[
    Path,
    typer.Option(
        "--file", envvar="XUANXUE_KEYS_FILE", help="keys file (the service's XUANXUE_KEYS_FILE)"
    ),
]


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="who uses the key, e.g. portal")],
    scopes: Annotated[
        str, typer.Option(help="comma-separated: read, write, admin (admin ⊇ write ⊇ read)")
    ] = "read",
    file: KeysFile = Path("var/api_keys.json"),
) -> None:
    """Create a key and print it once (only its hash is stored).

    Example: recommender keys add portal --scopes read,write
    """
    from recommender.lifecycle.keys import KeyFileError, add_key

    try:
        token, key = add_key(file, name, scopes)
    except KeyFileError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(token)
    typer.echo(
        f"已创建密钥 {key.name}（{','.join(key.scopes)}，编号 {key.key_id}）→ {file}；"
        "密钥只显示这一次，请妥善保存，请求时放在 X-API-Key 头中",
        err=True,
    )


@keys_app.command("list")
def keys_list(
    file: KeysFile = Path("var/api_keys.json"),
    all_keys: Annotated[bool, typer.Option("--all", help="also revoked keys")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show the keys (names, scopes, dates; never the keys themselves).

    Example: recommender keys list
    """
    from recommender.lifecycle.keys import KeyFileError, read_keys

    try:
        keys = [k for k in read_keys(file).keys if all_keys or k.active]
    except KeyFileError as exc:
        raise CLIError(str(exc)) from exc
    rows = [
        {
            "name": k.name,
            "scopes": ",".join(k.scopes),
            "id": k.key_id,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at or "",
        }
        for k in keys
    ]
    if json_out:
        _echo_json(rows)
        return
    if not rows:
        typer.echo(f"{file}：没有有效密钥（`recommender keys add NAME --scopes read` 创建）")
        return
    for r in rows:
        revoked = f"  revoked {r['revoked_at']}" if r["revoked_at"] else ""
        typer.echo(f"{r['name']:<20} {r['scopes']:<16} {r['id']}  {r['created_at']}{revoked}")


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="the key's name")],
    file: KeysFile = Path("var/api_keys.json"),
) -> None:
    """Revoke a key; a running service refuses it within a second.

    Example: recommender keys revoke portal
    """
    from recommender.lifecycle.keys import KeyFileError, revoke_key

    try:
        key = revoke_key(file, name)
    except KeyFileError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(f"已吊销密钥 {key.name}（编号 {key.key_id}）")


models_app = typer.Typer(
    no_args_is_help=True,
    help="Model versions under a models root: list, prune, re-sign (artifacts are signed).",
)
app.add_typer(models_app, name="models")
ModelsRoot = Annotated[Path, typer.Option("--model", help="models root (holds `current`)")]


def _artifact_call(fn, *args, **kwargs):
    from recommender.lifecycle.artifacts import ArtifactError

    try:
        return fn(*args, **kwargs)
    except (ArtifactError, OSError) as exc:
        raise CLIError(str(exc)) from exc


@models_app.command("list")
def models_list(
    model: ModelsRoot = Path("models"),
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Versions, oldest first, with size and signature check (nothing is unpickled).

    Example: recommender models list --model models
    """
    from recommender.lifecycle.versions import describe_versions

    rows = _artifact_call(describe_versions, model)
    if json_out:
        _echo_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{'*' if r['current'] else ' '} {r['version']:<24} {r['created_at'][:19]:<19} "
            f"{r['size_mb']:>8.2f} MB  签名 {r['signature']}" + ("  (current)" * r["current"])
        )
    typer.echo(f"{len(rows)} 个版本；签名 ok = 可加载，其他为拒绝原因代码", err=True)


@models_app.command("prune")
def models_prune(
    keep: Annotated[int, typer.Option(min=0, help="newest versions to keep besides current")],
    model: ModelsRoot = Path("models"),
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """Delete old versions (never `current`) and stale unpublished temporary folders.

    Example: recommender models prune --model models --keep 3
    """
    from recommender.lifecycle.versions import prune_versions

    removed = _artifact_call(prune_versions, model, keep, dry_run=dry_run)
    verb = "将删除" if dry_run else "已删除"
    typer.echo(f"{verb} {len(removed)} 个版本" + (f"：{', '.join(removed)}" if removed else ""))


@models_app.command("resign")
def models_resign(
    model: ModelsRoot = Path("models"),
    version: Annotated[str | None, typer.Option(help="one version dir name")] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="every version")] = False,
    trust_unsigned: Annotated[
        bool,
        typer.Option(help="also sign UNSIGNED versions (check where the files came from first)"),
    ] = False,
) -> None:
    """Re-sign versions with the current key (after a rotation, or old unsigned artifacts).

    Example: recommender models resign --model models --all
    """
    from recommender.lifecycle.artifacts import resolve, signing_keys
    from recommender.lifecycle.versions import resign_all, resign_version

    if (version is None) == (not all_versions):
        raise typer.BadParameter("请给出 --version NAME 或 --all 二者之一", param_hint="--version")
    keys = _artifact_call(signing_keys)
    if all_versions:
        done = _artifact_call(resign_all, model, keys, trust_unsigned=trust_unsigned)
    else:
        target = _artifact_call(resolve, model / version)
        done = {
            version: _artifact_call(resign_version, target, keys, trust_unsigned=trust_unsigned)
        }
    for name, what in done.items():
        typer.echo(f"{name}: {what}")
    if any(w.startswith("refused") for w in done.values()):
        raise CLIError("部分版本未重新签名（见上），请先核实其来源（resign_refused）")


@models_app.command("rotate-key")
def models_rotate_key(model: ModelsRoot = Path("models")) -> None:
    """New signing key first in the key file (old one kept, still accepted), re-sign all.

    Example: recommender models rotate-key --model models
    """
    from recommender.lifecycle.versions import rotate_key

    new_id, done = _artifact_call(rotate_key, model)
    for name, what in done.items():
        typer.echo(f"{name}: {what}")
    typer.echo(
        f"新签名密钥编号 {new_id}；确认所有服务都已重新加载后，可删除密钥文件中的旧密钥行",
        err=True,
    )


db_app = typer.Typer(
    no_args_is_help=True,
    help="The completion-event store (SQLite file or PostgreSQL database).",
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    events: Annotated[
        str,
        typer.Option(
            "--events",
            envvar="XUANXUE_EVENTS_URL",
            help="postgresql://user:pass@host/db, sqlite:///PATH or a path "
            "(default: XUANXUE_EVENTS_URL)",
        ),
    ],
) -> None:
    """Create the event store's tables or migrate them to this version's schema.

    Safe to run again and while replicas serve (one migration at a time, under a lock).

    Example: recommender db upgrade --events postgresql://xuanxue@db.example/xuanxue
    """
    from recommender.lifecycle.events import open_event_store

    with open_event_store(events) as store:  # opening creates or migrates the schema
        before, after = store.migrated
        count = store.count()
    change = f"{before} → {after}（已升级）" if before != after else f"{after}（已是最新）"
    typer.echo(f"事件库 {store!r}：结构版本 {change}，共 {count} 条事件")


@app.command()
def serve(
    model: ModelPath = Path("models"),
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
    rules: RulesOption = None,
) -> None:
    """Serve the HTTP API (FastAPI + uvicorn); menus follow --rules (XUANXUE_RULES).

    Example: recommender serve --model models --port 8000
    """
    if rules is not None:
        _rules(rules)  # fail here, not in every worker
        os.environ["XUANXUE_RULES"] = str(rules.resolve())  # the workers load the model
    run = _server_entry_point()
    run(model_path=model, host=host, port=port, workers=workers)


def _server_entry_point():
    """The HTTP server, found through the ``xuanxue.server`` entry point (the library does
    not import the service package; any installed server can register itself there)."""
    from importlib.metadata import entry_points

    found = entry_points(group="xuanxue.server", name="http")
    if not found:
        raise CLIError(
            "未安装 HTTP 服务（入口点 xuanxue.server:http 不存在）：pip install -e . 后重试"
        )
    try:
        return next(iter(found)).load()
    except ImportError as exc:
        raise CLIError(f"HTTP 服务无法加载：{exc}") from exc


def main() -> None:
    """Entry point: run the app, turning known failures into one-line messages and exit 1."""
    logging.basicConfig(
        level=os.environ.get("XUANXUE_LOG_LEVEL", "WARNING"),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("已中止（aborted）", err=True)
        sys.exit(1)
    except Exception as exc:  # the CLI contract: a message, never a traceback
        # typer may bundle its own copy of click: recognise click's exceptions by shape
        if callable(getattr(exc, "show", None)) and isinstance(
            getattr(exc, "exit_code", None), int
        ):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("XUANXUE_DEBUG"):
            raise
        typer.echo(f"错误：{exc}", err=True)
        sys.exit(1)
