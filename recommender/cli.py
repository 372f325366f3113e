"""Command line: ``recommender <command>`` (also ``python -m recommender``).

Exit codes: 0 ok, 1 failed with a message (never a traceback), 2 usage error. Help texts and
usage errors are in Chinese (option names stay English): see :mod:`recommender.cli_zh`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from recommender.cli_zh import ZhCommand, ZhGroup, usage_error_text

app = typer.Typer(
    cls=ZhGroup,
    add_completion=False,
    no_args_is_help=True,
    help="选学（xuanxue）：干部自主选学的个性化课程推荐与课程菜单。"
    "各命令的用法见 recommender 命令 --help。",
    pretty_exceptions_enable=False,
)

ColumnsOption = Annotated[
    str,
    typer.Option(
        "--columns",
        help="输出文件的列名：zh（中文列名、匹配度，给人看）或 en（英文列名、原始得分，给程序读）",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option("--data", help="数据目录（含课程、干部、学习记录三张表）"),
]
ModelPath = Annotated[
    Path, typer.Option("--model", help="模型目录：某个版本目录，或模型根目录（用其 current）")
]
#: the service's event store by default, so the CLI and HTTP give the same answer
EventsOption = Annotated[
    str | None,
    typer.Option(
        "--events",
        envvar="XUANXUE_EVENTS_URL",
        help="门户报送的完成事件库：postgresql://…、sqlite:///路径 或文件路径"
        "（默认读取服务的事件库文件 var/events.sqlite3，如果存在；写 none 则不读取任何事件）",
    ),
]
DEFAULT_EVENTS = Path("var/events.sqlite3")
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        envvar="XUANXUE_RULES",
        help="培训规则文件（TOML 格式，写法见文档“课程菜单”一节；"
        "默认用环境变量 XUANXUE_RULES 所指的文件，没有时用随程序安装的规则）",
    ),
]
YearOption = Annotated[int | None, typer.Option(help="计划年度（默认取 --as-of 所在年）")]
RejectsOption = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        help="拒收明细 <表名>.rejects.csv 的输出目录（仅本人可读；默认为模型根目录旁的 rejects/，"
        "不写入数据目录）",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="以哪一天为准制定计划，格式 YYYY-MM-DD（默认今天）；计划年度默认取该日所在年",
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
    from recommender.lifecycle.events import open_event_store, redact_url

    try:
        return open_event_store(events)
    except Exception as exc:  # unreachable database, unreadable file (never print a password)
        raise CLIError(f"无法打开事件库 {redact_url(events)}：{redact_url(str(exc))}") from exc


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


def _lookup(m):
    """The model's cadre look-up under this machine's identity secret; warns on stderr when
    look-ups by 身份证号 cannot work (no secret, or not the model's)."""
    from recommender.lifecycle.lookup import cadre_lookup, configured_secret

    lookup = cadre_lookup(m, *configured_secret())
    if lookup.problem:
        typer.echo(f"警告：{lookup.problem}", err=True)
    return lookup


def _resolve(lookup, query: str) -> str:
    """The cadre id for ``--cadre`` (a full 身份证号 is hashed; never echoed in full)."""
    from recommender.data.identity import IdentityError
    from recommender.lifecycle.lookup import looks_like_id_card

    try:
        cadre_id = lookup.resolve(query)
    except IdentityError as exc:
        raise CLIError(str(exc)) from exc
    if looks_like_id_card(query) and not lookup.model.has_cadre(cadre_id):
        message, hint = lookup.unknown_message(query)
        hint = "见上方警告" if lookup.problem else hint  # the warning was just printed
        raise CLIError(message + (f"：{hint}" if hint else ""))
    return cadre_id


def _who(lookup, cadre_id: str) -> str:
    """'姓名（4291**********3099）' when the roster has them, else the cadre id."""
    shown = lookup.display(cadre_id)
    name, masked = shown["name"], shown["id_masked"]
    return f"{name}（{masked or cadre_id}）" if name else (masked or cadre_id)


def _rejects_dir(rejects: Path | None, models: Path) -> Path:
    """``--rejects``, else ``rejects/`` beside the models root: made private (0700)."""
    from recommender.data.safe_write import private_dir
    from recommender.lifecycle.train import default_rejects_dir

    try:
        return private_dir(rejects if rejects is not None else default_rejects_dir(models))
    except OSError as exc:
        raise CLIError(f"拒收明细目录不可用：{exc}") from exc


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
    Path | None,
    typer.Option(
        "--courses", help="课程表文件（不在数据目录中、或不叫 课程.* / courses.* 时指定）"
    ),
]
CadresFile = Annotated[
    Path | None,
    typer.Option("--cadres", help="干部表文件（不在数据目录中、或不叫 干部.* / cadres.* 时指定）"),
]
CompletionsFile = Annotated[
    Path | None,
    typer.Option(
        "--completions", help="学习记录表文件（不在数据目录中、或不叫 学习记录.* 时指定）"
    ),
]
SheetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--sheet",
        help="要读取的工作表：表名，或 表=工作表名（可重复）；"
        "默认读取第一个含必填列的工作表（填表说明页自动跳过）",
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


@app.command(cls=ZhCommand)
def validate(
    data: Annotated[
        Path | None,
        typer.Argument(metavar="[数据目录]", help="数据目录（含课程、干部、学习记录三张表）"),
    ] = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    sheet: SheetOption = None,
    rules: RulesOption = None,
    rejects: RejectsOption = None,
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="有拒收行时也以 0 退出（默认以 1 退出）")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="以 JSON 格式输出")] = False,
) -> None:
    """检查数据：逐表列出读入、接受、拒收的行数及拒收原因，并给出警告。

    培训规则（类别下限、集中培训与网络学习的划分）提到课程目录中没有的类别、分组或形式时给出警告。
    有拒收行时以 1 退出（逐行明细见 rejects/<表名>.rejects.csv，可用 --rejects 指定目录），
    加 --allow-rejects 则以 0 退出。

    例：recommender validate data/sample

    例：recommender validate --courses 课程.xlsx --cadres 干部.xlsx --completions 记录.csv
    """
    from recommender.data.loading import load_dataset

    data, files, choice = _table_files(data, courses, cadres, completions, sheet)
    rejects = _rejects_dir(rejects, Path("models"))
    ds = load_dataset(data, files=files, sheet=choice, rejects_dir=rejects)
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
            f"共拒收 {ds.rows_rejected} 行（原因见上，逐行明细见 {rejects}/<表名>.rejects.csv）；"
            "修正数据后重试，或加 --allow-rejects 接受这些拒收"
        )


@app.command(cls=ZhCommand)
def train(
    data: DataDir = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    sheet: SheetOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="模型根目录（新版本写在其下，current 指向已发布版本）")
    ] = Path("models"),
    rules: RulesOption = None,
    rejects: RejectsOption = None,
    publish: Annotated[
        bool, typer.Option(help="训练完成后发布：把 模型根目录/current 指向新版本")
    ] = True,
    events: Annotated[
        str | None,
        typer.Option(
            help="要并入训练的完成事件库：文件路径、sqlite:///路径 或 postgresql://…"
            "（默认为数据目录下的事件库文件 events.sqlite3）"
        ),
    ] = None,
    collaborative: Annotated[
        str,
        typer.Option(
            help="协同过滤模型：auto（按课程数自动选择）、ease（闭式解）或 itemknn（课程近邻）"
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="随机种子（相同数据和种子得到相同模型）")] = 0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="训练配置文件：TOML（全部可调参数），或某个模型版本的 metadata.json"
            "（用其中记录的配置重训）；给出时不再看 --collaborative 和 --seed",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="训练引擎：local（单机训练，默认）或 spark（在 Spark 集群上读表、校验、统计，"
            "再由驱动端拟合模型；需先安装可选依赖 xuanxue[spark]）"
        ),
    ] = "local",
    master: Annotated[
        str,
        typer.Option(
            help="用 Spark 引擎训练（--engine spark）时所连接的集群主节点地址："
            "本机全部处理器核心用 local[*]（默认），独立集群用 spark://主机:7077，"
            "也可以是 yarn 或 k8s://…；训练数据文件可以放在 hdfs:// 或 s3a:// 分布式存储上，"
            "格式为逗号分隔文本或列式存储文件"
        ),
    ] = "local[*]",
) -> None:
    """用数据目录训练模型，写出 模型根目录/<版本>/ 并发布为 current。

    规则文件的路径和 SHA-256 记入模型元数据（课程菜单在加载模型时读取规则：
    menu、menus、serve 请给同一个 --rules 或 XUANXUE_RULES；
    validate --rules 可先对照课程目录检查规则）。

    例：recommender train --data data/sample --out models

    例：recommender train --courses 课程.xlsx --cadres 干部.xlsx --completions 记录.csv
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
    rejects = _rejects_dir(rejects, out)
    if config is not None:
        from recommender.ranking.pipeline import ConfigError

        try:
            cfg = TrainConfig.from_file(config)
        except (ConfigError, TypeError) as exc:
            raise CLIError(f"{config}：{exc}") from exc
    else:
        cfg = TrainConfig.of(collaborative=collaborative, seed=seed)
    if engine not in ("local", "spark"):
        raise typer.BadParameter(
            f"未知的训练引擎 {engine!r}（可选 local、spark）", param_hint="--engine"
        )
    if engine == "spark":
        from recommender.lifecycle.spark_engine import trainer

        run = _spark_call(trainer(master))
    path = run(
        data,
        out,
        config=cfg,
        publish=publish,
        events_path=events,
        files=files,
        sheet=choice,
        rules=rules,
        rejects_dir=rejects,
    )
    meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    from recommender.data.loading import format_load_report

    for line in format_load_report(meta.get("load", []), rejects_dir=str(rejects)):
        typer.echo(line)
    typer.echo(
        f"已训练模型 {meta['model_version']}，用时 {meta['trained_seconds']} 秒 → {path}"
        + ("（已发布）" if publish else "（未发布）")
    )


@app.command(cls=ZhCommand)
def recommend(
    model: ModelPath = Path("models"),
    cadre: Annotated[
        str | None, typer.Option(help="一名干部的干部编号，或完整身份证号（按密钥散列后查找）")
    ] = None,
    cadres: Annotated[
        Path | None, typer.Option(help="批量推荐：干部编号（或身份证号）文件，每行一个")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200, help="每人推荐几门课程")] = 10,
    output: Annotated[
        Path | None,
        typer.Option(help="批量推荐的输出文件：.csv 或 .xlsx（含课程名称、类别、学时、推荐理由）"),
    ] = None,
    columns: ColumnsOption = "zh",
    json_out: Annotated[bool, typer.Option("--json", help="以 JSON 格式输出")] = False,
    include_compulsory: Annotated[
        bool, typer.Option("--include-compulsory", help="同时列出必修课程（默认只推荐选修课）")
    ] = False,
    events: EventsOption = None,
    all_cadres: Annotated[
        bool,
        typer.Option(
            "--all",
            help="为模型中的全部干部批量推荐（需要同时给出 --engine spark，"
            "结果以 Parquet 格式写到 --output 所指的目录）",
        ),
    ] = False,
    engine: Annotated[
        str, typer.Option(help="批量推荐引擎：local（默认）或 spark（在执行器上打分，配合 --all）")
    ] = "local",
    master: Annotated[
        str,
        typer.Option(
            help="用 Spark 引擎（--engine spark）批量推荐时所连接的集群主节点地址"
            "（默认为本机全部处理器核心）"
        ),
    ] = "local[*]",
) -> None:
    """为一名干部推荐选修课程，或为一批干部推荐并写入 CSV / Excel 文件。

    服务已保存的完成事件同样计入，与通过 HTTP 接口得到的结果一致。批量文件的列为：
    干部编号、序号、课程编号、匹配度、课程名称、类别、形式、学时、推荐理由
    （--columns en 时为英文列名与原始得分，供程序读取）。

    例：recommender recommend --model models --cadre G000002 -k 10

    例：recommender recommend --model models --cadres 名单.txt --output 推荐.xlsx
    """
    if all_cadres or engine != "local":
        _recommend_spark(model, output, k, include_compulsory, all_cadres, engine, master)
        return
    if (cadre is None) == (cadres is None):
        raise typer.BadParameter("请给出 --cadre 或 --cadres 二者之一", param_hint="--cadre")
    if cadres is not None and output is None:
        raise typer.BadParameter(
            "--cadres 需要 --output 文件（.csv 或 .xlsx）", param_hint="--output"
        )
    m = _load(model, None)
    source = _event_source(events)
    if cadres is not None:
        _recommend_batch(m, cadres, k, output, source, include_compulsory, _columns(columns))
        return
    cadre = _resolve(_lookup(m), cadre)
    recs = _known(m, m.recommend, cadre, k, events=source, include_compulsory=include_compulsory)
    if json_out:
        _echo_json(
            {"model_version": m.version, "cadre_id": cadre, "items": [r.to_dict() for r in recs],
             "shortfall": recs.shortfall_dict()}
        )  # fmt: skip
    else:
        from recommender import match_percent
        from recommender.data.display import half_hours, label

        for r in recs:
            typer.echo(
                f"{r.rank:>2}. {r.course_id} {r.title}（{r.category}，{label(r.format)}，"
                f"{half_hours(r.credit_hours):g} 学时）"
                f" 匹配度 {match_percent(r.score)}\n    {r.reason_text}"
            )
    if recs.shortfall:  # a short list says why; an empty one is a failure (exit 1)
        typer.echo(f"提示：{recs.shortfall}", err=True)
    if not recs:
        raise typer.Exit(1)


def _spark_call(fn):
    """``fn`` with Spark's setup errors (no pyspark, no Java, bad paths) as CLI errors."""

    def call(*args, **kwargs):
        from recommender.lifecycle.spark_session import SparkUnavailableError

        try:
            return fn(*args, **kwargs)
        except (SparkUnavailableError, FileNotFoundError, ValueError) as exc:
            raise CLIError(str(exc)) from exc

    return call


def _recommend_spark(model, output, k, include_compulsory, all_cadres, engine, master) -> None:
    """``--engine spark --all --output recs.parquet``: every cadre, scored on executors."""
    if engine != "spark" or not all_cadres or output is None:
        raise typer.BadParameter(
            "全员批量推荐请同时给出 --engine spark、--all 和 --output（Parquet）",
            param_hint="--engine / --all",
        )
    from recommender.lifecycle.spark_batch import recommend_all
    from recommender.lifecycle.spark_engine import as_uri
    from recommender.lifecycle.spark_session import spark_session

    def run():
        spark = spark_session(master, app="xuanxue-recommend")
        try:
            return recommend_all(
                spark, model, as_uri(output), k=k, include_compulsory=include_compulsory
            )
        finally:
            spark.stop()

    rows = _spark_call(run)()
    typer.echo(f"已为全部干部写出 {rows} 行推荐（每人最多 {k} 门，Spark 执行器打分）→ {output}")


#: batch recommendation columns → Chinese headers (``--columns zh``)
BATCH_HEADERS = {
    "cadre_id": "干部编号",
    "rank": "序号",
    "course_id": "课程编号",
    "match": "匹配度",
    "title": "课程名称",
    "category": "类别",
    "format": "形式",
    "credit_hours": "学时",
    "reason": "推荐理由",
}


def _columns(value: str) -> str:
    if value not in ("zh", "en"):
        raise typer.BadParameter(
            f"列名须为 zh（中文）或 en（英文），而不是 {value!r}", param_hint="--columns"
        )
    return value


def people_table(table):
    """The batch table for people: 匹配度 (0–100) instead of the raw score, formats in
    Chinese, hours to the half 学时, Chinese headers."""
    from recommender import match_percent
    from recommender.data.display import half_hours, label

    out = table.copy()
    out.insert(out.columns.get_loc("score"), "match", out["score"].map(match_percent))
    out = out.drop(columns="score")
    out["format"] = out["format"].map(label)
    out["credit_hours"] = out["credit_hours"].map(half_hours)
    from recommender.menu.unit import PERSON_HEADERS

    return out.rename(columns=lambda c: BATCH_HEADERS.get(c) or PERSON_HEADERS.get(c, c))


def _recommend_batch(
    m, cadres: Path, k: int, output: Path, source, include_compulsory, columns: str
) -> None:
    from recommender.menu.unit import UnitError, recommendation_table, write_table

    ids = _cadre_ids(m, cadres)
    table = recommendation_table(
        m,
        ids,
        k,
        events=source,
        include_compulsory=include_compulsory,
        progress=_progress(),
        people=True,  # 姓名 and the masked id, when the roster has them
    )
    if columns == "zh":
        table = people_table(table)
    try:
        write_table(table, output)
    except UnitError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(f"已写出 {len(ids)} 名干部、每人最多 {k} 门推荐课程 → {output}")


def _cadre_ids(m, path: Path) -> list[str]:
    """The cadre ids of a file (one a line: 干部编号 or full 身份证号, hashed). Ids the model
    does not know are reported on stderr and skipped (a 身份证号 masked); a file with no
    known id fails."""
    from recommender.data.identity import IdentityError, shown_id

    lines = [ln.strip() for ln in _read_lines(path) if ln.strip()]
    if not lines:
        raise CLIError(f"{path}：文件中没有干部编号（每行一个 cadre_id）")
    lookup = _lookup(m)
    try:
        ids = [lookup.resolve(ln) for ln in lines]
    except IdentityError as exc:
        raise CLIError(f"{path}：{exc}") from exc
    unknown = [(c, ln) for c, ln in zip(ids, lines, strict=True) if not m.has_cadre(c)]
    if unknown:
        why = _rejected_at_load(m, "cadre", unknown[0][0])
        shown = [shown_id(ln) for _, ln in unknown[:3]]  # as typed, a 身份证号 masked
        message = (
            f"{path}：{len(unknown)} 个干部编号不在模型的训练数据中（unknown_cadre），"
            f"例如 {'、'.join(shown)}"
            + (f"；{shown[0]} 在训练数据加载时被拒收：{why}" if why else "")
        )
        if len(unknown) == len(ids):
            raise CLIError(message)
        typer.echo(f"警告：{message}；已跳过，其余 {len(ids) - len(unknown)} 人照常处理", err=True)
    return [c for c in ids if m.has_cadre(c)]


def _rejected_at_load(m, kind: str, value: str) -> str | None:
    """Why the row of ``value`` was rejected when the model's data was loaded, if it was."""
    return (m.metadata.get("rejected_ids") or {}).get(f"{kind}_id", {}).get(value)


def _known(m, fn, *args, **kwargs):
    """Call ``fn``; an unknown id says whether its row was rejected at load, and why."""
    from recommender.data.identity import shown_id
    from recommender.ranking.model import UnknownIdError

    try:
        return fn(*args, **kwargs)
    except UnknownIdError as exc:
        label = {"cadre": "干部", "course": "课程"}.get(exc.kind, exc.kind)
        why = _rejected_at_load(m, exc.kind, exc.value)
        shown = shown_id(exc.value)  # a mistyped 身份证号 (17 or 19 digits) is masked too
        if why:
            raise CLIError(
                f"未知{label} {shown}（unknown_{exc.kind}）：该{label}的行在训练数据加载时"
                f"被拒收——{why}；修正数据后重新训练"
            ) from exc
        hint = (
            "；新干部可用 POST /v1/recommendations 提交画像获得推荐" if exc.kind == "cadre" else ""
        )
        raise CLIError(
            f"未知{label} {shown}（unknown_{exc.kind}）：模型 {m.version} 的训练数据中"
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


@app.command(cls=ZhCommand)
def evaluate(
    data: DataDir = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    sheet: SheetOption = None,
    split: Annotated[
        str,
        typer.Option(
            help="划分方式：temporal（按时间，最后两成为测试）、leave-last（每人最后一门）"
            "或 random（随机）"
        ),
    ] = "temporal",
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="按前几名计算指标")] = 10,
    fraction: Annotated[
        float, typer.Option(min=0.01, max=0.9, help="测试集占学习记录的比例")
    ] = 0.2,
    out: Annotated[Path | None, typer.Option(help="把评估报告（JSON）写到此文件")] = None,
    relevant: Annotated[
        str,
        typer.Option(help="哪些记录算命中：chosen（仅自主选学）或 all（含组织调训）"),
    ] = "chosen",
    test: Annotated[
        Path | None,
        typer.Option(
            help="外部留出测试文件（列 cadre_id,course_id）：用全部数据训练，再对此文件打分"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="随机种子")] = 0,
) -> None:
    """按划分训练并评估，输出指标表（含同次运行的基线模型）。

    指标含义见文档“训练与评估”一节：召回率、NDCG、覆盖率等，均按前 k 名计算。

    例：recommender evaluate --data data/sample --out 评估.json
    """
    from recommender.data.loading import load_dataset
    from recommender.lifecycle.evaluate import SPLITS
    from recommender.lifecycle.evaluate import evaluate as run
    from recommender.ranking.pipeline import TrainConfig

    if split not in SPLITS:
        raise typer.BadParameter(
            f"未知的划分方式 {split!r}（可选 {'、'.join(SPLITS)}）", param_hint="--split"
        )
    data, files, choice = _table_files(data, courses, cadres, completions, sheet)
    report = run(
        load_dataset(data, files=files, sheet=choice),
        split=split,
        k=k,
        fraction=fraction,
        config=TrainConfig.of(seed=seed),
        progress=_progress(),
        relevant=relevant,
        test=_read_test_file(test) if test is not None else None,
    )
    typer.echo(evaluation_table(report.table))
    d = report.details
    typer.echo(
        f"\n划分 split={split}，测试干部 {d['test_cadres']} 人（其中新干部 {d['cold_cadres']}），"
        f"无学习记录的课程 {d['cold_courses']}/{d['n_courses']}，信号 {','.join(d['signals'])}"
    )
    if out:
        from recommender.data.safe_write import write_text

        write_text(out, json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
        typer.echo(f"评估报告 → {out}")


#: evaluation table: models, slices and metrics as analysts read them (codes in --out JSON)
EVAL_LABELS = {
    "random": "随机",
    "popularity": "全体热门",
    "segment_popularity": "同类干部热门",
    "content": "仅内容匹配",
    "ease": "仅协同过滤（EASE）",
    "itemknn": "仅协同过滤（课程近邻）",
    "hybrid": "选学（混合）",
    "all": "全部测试干部",
    "cold_cadres": "新干部",
    "cold_courses": "新课程",
}
EVAL_HEADERS = {
    "model": "模型",
    "slice": "范围",
    "cadres": "干部数",
    "coverage": "覆盖率",
    "diversity": "多样性",
    "cold_course_coverage": "新课程覆盖率",
}
_METRIC = {"recall": "召回率", "ndcg": "NDCG", "map": "MAP"}


def evaluation_table(table) -> str:
    """The metrics table with Chinese headers, model and slice names (4 decimals)."""
    out = table.copy()
    for col in ("model", "slice"):
        if col in out:
            out[col] = out[col].map(lambda v: EVAL_LABELS.get(v, v))

    def header(col: str) -> str:
        name, at, k = col.partition("@")
        return f"{_METRIC.get(name, name)}@{k}" if at else EVAL_HEADERS.get(col, col)

    out = out.rename(columns=header)
    return out.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")


@app.command(cls=ZhCommand)
def menu(
    model: ModelPath = Path("models"),
    cadre: Annotated[str, typer.Option(help="干部编号，或完整身份证号（按密钥散列后查找）")] = ...,
    year: YearOption = None,
    as_of: AsOfOption = None,
    target_hours: Annotated[
        float | None, typer.Option(min=0, help="年度目标学时（默认取干部档案或培训规则）")
    ] = None,
    hours_credited: Annotated[
        float | None,
        typer.Option(min=0, help="本年度已获得的学时（从目标中扣除；默认按学习记录统计）"),
    ] = None,
    weekly_budget: Annotated[
        float | None, typer.Option(min=0, help="每周最多学习的学时（默认取干部档案）")
    ] = None,
    rules: RulesOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="以 JSON 格式输出")] = False,
    events: EventsOption = None,
) -> None:
    """为一名干部制定个人课程菜单（服务已保存的完成事件同样计入）。

    计划覆盖今天（--as-of）起到年底；培训规则的切换日（默认 10 月 1 日）起默认计划下一年度；
    指定其他年度（--year）时，从 1 月 1 日起整年计划。已获学时默认按学习记录统计。

    例：recommender menu --model models --cadre G000002 --target-hours 50

    例：recommender menu --model models --cadre G000002 --year 2026 --as-of 2026-01-01
    """
    from recommender.data.display import half_hours, label
    from recommender.menu.planning import plan_menu

    m = _load(model, rules)
    lookup = _lookup(m)
    cadre = _resolve(lookup, cadre)
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
        f"{_who(lookup, cadre)} {result.year} 年：计划 {half_hours(result.planned_hours):g}/"
        f"{half_hours(result.target_hours):g} 学时（已获 {half_hours(result.hours_credited):g}）"
        f"  {'全部达标' if result.met else '未全部达标'}"
    )
    for it in result.items:
        when = it.session_start if it.session_start is not None else f"第 {it.week} 周起"
        typer.echo(
            f"- {it.course_id} {it.title}（{it.category}，{label(it.format)}，"
            f"{half_hours(it.credit_hours):g} 学时，{when}）\n    {it.reason}"
        )
    for u in result.unmet:
        typer.echo(f"未满足 {label(u.constraint)}：{u.message}")
    typer.echo(f"求解方法：{label(result.solver)}")


@app.command(cls=ZhCommand)
def menus(
    out: Annotated[Path, typer.Option("--out", help="要写出的工作簿（.xlsx）")],
    model: ModelPath = Path("models"),
    unit: Annotated[
        str | None, typer.Option(help="单位：全称或其中一段（匹配到的单位都计入）")
    ] = None,
    cadres: Annotated[
        Path | None, typer.Option(help="干部编号文件，每行一个（代替 --unit）")
    ] = None,
    year: YearOption = None,
    as_of: AsOfOption = None,
    rules: RulesOption = None,
    events: EventsOption = None,
) -> None:
    """为一个单位（或一份干部名单）的每名干部制定课程菜单，写入一个 Excel 工作簿。

    工作表：课程菜单（干部、课程、类别、形式、学时、开课时间或周次、推荐理由）与
    汇总（每人的目标学时、计划学时、集中培训与网络学习学时、是否达标及未达标原因；末行为合计）。

    例：recommender menus --model models --unit 积玉口镇 --out 菜单.xlsx

    例：recommender menus --model models --cadres 名单.txt --out 菜单.xlsx --as-of 2026-01-01
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


@app.command(cls=ZhCommand)
def gaps(
    out: Annotated[Path, typer.Option("--out", help="要写出的 Excel 工作簿文件（扩展名为 .xlsx）")],
    data: DataDir = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    sheet: SheetOption = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="模型目录（给出时报告含菜单类表格：未满足干部、开课时段匹配）"
        ),
    ] = None,
    columns: ColumnsOption = "zh",
) -> None:
    """给规划人员的需求缺口报告：每张表一个工作表，附图表，写入一个 Excel 工作簿。

    缺口 = 需求占比 − 供给占比（百分点），按系统、单位层级、职级、地区分列；
    含义见文档“需求缺口”一节。

    例：recommender gaps --data data/sample --model models --out 缺口.xlsx

    例：recommender gaps --courses 课程.xlsx --cadres 干部.xlsx --completions 记录.csv
    --out 缺口.xlsx
    """
    from recommender.insights.report import write_gap_report
    from recommender.lifecycle.artifacts import load_model

    data, files, choice = _table_files(data, courses, cadres, completions, sheet)
    loaded = load_model(model) if model is not None else None
    path = write_gap_report(
        data, out, model=loaded, files=files, sheet=choice, columns=_columns(columns)
    )
    typer.echo(f"需求缺口报告 → {path}")


@app.command(cls=ZhCommand)
def report(
    out: Annotated[
        Path, typer.Option("--out", help="要写出的 HTML 报告文件（如 报告.html），用浏览器打开")
    ],
    data: DataDir = None,
    courses: CoursesFile = None,
    cadres: CadresFile = None,
    completions: CompletionsFile = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="模型目录（默认用环境变量 XUANXUE_MODELS 所指的目录，否则用 models/current；"
            "都没有时临时训练一个）",
        ),
    ] = None,
    notebooks: Annotated[
        Path | None,
        typer.Option(help="笔记本所在目录（默认：项目的 notebooks 目录，运行其中全部笔记本）"),
    ] = None,
) -> None:
    """把规划笔记本（需求缺口、课程目录健康度）用本院数据运行，生成一个 HTML 报告文件。

    图表嵌在页面里，不需要服务器、也不需要联网，双击即可在浏览器中打开、可转发。
    不给出数据时用样例数据。

    例：recommender report --data 数据目录 --model models --out 报告.html
    """
    from recommender.insights.html_report import ReportError, render_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"输出文件须为 .html，而不是 {out.name!r}", param_hint="--out")
    if data is not None or any(f is not None for f in (courses, cadres, completions)):
        data, files, _ = _table_files(data, courses, cadres, completions, None)
    else:
        files = {}
    books = None
    if notebooks is not None:
        books = sorted(notebooks.glob("*.ipynb"))
        if not books:
            raise CLIError(f"{notebooks}：目录中没有笔记本（*.ipynb）")
    try:
        path = render_report(
            out, data=data, model=model, files=files, notebooks=books, progress=_progress()
        )
    except ReportError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(f"规划报告 → {path}（{path.stat().st_size / 1e6:.1f} MB，可直接用浏览器打开）")


keys_app = typer.Typer(
    cls=ZhGroup,
    no_args_is_help=True,
    help="HTTP 服务的接口密钥：创建、列出、吊销（权限 read、write、admin；只保存密钥的散列）。",
)
app.add_typer(keys_app, name="keys")
KeysFile = Annotated[
    Path,
    typer.Option(
        "--file",
        envvar="XUANXUE_KEYS_FILE",
        help="密钥文件（即服务的环境变量 XUANXUE_KEYS_FILE 所指的文件）",
    ),
]


@keys_app.command("add", cls=ZhCommand)
def keys_add(
    name: Annotated[
        str, typer.Argument(metavar="名称", help="密钥使用方的名称，如 portal（门户网站）")
    ],
    scopes: Annotated[
        str,
        typer.Option(
            help="权限，用逗号分隔：read（读取）、write（写入）、admin（管理，含读取和写入）"
        ),
    ] = "read",
    file: KeysFile = Path("var/api_keys.json"),
) -> None:
    """创建一个接口密钥并只显示这一次（文件中只保存其散列）。

    例：recommender keys add portal --scopes read,write
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


@keys_app.command("list", cls=ZhCommand)
def keys_list(
    file: KeysFile = Path("var/api_keys.json"),
    all_keys: Annotated[bool, typer.Option("--all", help="同时列出已吊销的密钥")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="以 JSON 格式输出")] = False,
) -> None:
    """列出密钥：名称、权限、编号、创建日期（从不显示密钥本身）。

    例：recommender keys list
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


@keys_app.command("revoke", cls=ZhCommand)
def keys_revoke(
    name: Annotated[str, typer.Argument(metavar="名称", help="要吊销的密钥名称")],
    file: KeysFile = Path("var/api_keys.json"),
) -> None:
    """吊销一个密钥；运行中的服务在一秒内开始拒绝它。

    例：recommender keys revoke portal
    """
    from recommender.lifecycle.keys import KeyFileError, revoke_key

    try:
        key = revoke_key(file, name)
    except KeyFileError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(f"已吊销密钥 {key.name}（编号 {key.key_id}）")


@keys_app.command("export-public", cls=ZhCommand)
def keys_export_public(
    out: Annotated[Path | None, typer.Option("--out", help="写入此文件（默认打印到屏幕）")] = None,
) -> None:
    """打印模型签名公钥（在训练机器上运行），供副本机器用 import-public 导入。

    私钥从不离开训练机器；公钥只能验证签名，不能签名。
    例：recommender keys export-public > xuanxue.pub
    """
    from recommender.data.safe_write import write_text
    from recommender.lifecycle.artifacts import signing_keys
    from recommender.lifecycle.signing import public_text

    signer = _artifact_call(signing_keys)
    line = public_text(signer.public)
    if out is not None:
        _artifact_call(write_text, out, line + "\n")
    else:
        typer.echo(line)
    typer.echo(f"公钥编号 {signer.key_id}（私钥 {signer.source}）", err=True)


@keys_app.command("import-public", cls=ZhCommand)
def keys_import_public(
    key: Annotated[
        str, typer.Argument(metavar="公钥", help="ed25519:… 一行，或含这一行的文件路径")
    ],
) -> None:
    """把训练机器的模型签名公钥加入本机受信公钥文件（副本机器上运行）。

    例：recommender keys import-public xuanxue.pub
    """
    from recommender.lifecycle.signing import SignatureError, add_trusted, key_id, parse_public

    text = key
    if not key.strip().startswith("ed25519:") and Path(key).is_file():
        text = Path(key).read_text(encoding="utf-8").strip().splitlines()[0]
    try:
        public = parse_public(text)
        path = add_trusted(public)
    except SignatureError as exc:
        raise CLIError(str(exc)) from exc
    typer.echo(f"已信任公钥 {key_id(public)} → {path}")


models_app = typer.Typer(
    cls=ZhGroup,
    no_args_is_help=True,
    help="管理模型根目录下的各个版本：列出、清理、重新签名（模型文件均有签名）。",
)
app.add_typer(models_app, name="models")
ModelsRoot = Annotated[
    Path, typer.Option("--model", help="模型根目录（其中的 current 指向已发布版本）")
]


def _artifact_call(fn, *args, **kwargs):
    from recommender.lifecycle.artifacts import ArtifactError

    try:
        return fn(*args, **kwargs)
    except (ArtifactError, OSError) as exc:
        raise CLIError(str(exc)) from exc


@models_app.command("list", cls=ZhCommand)
def models_list(
    model: ModelsRoot = Path("models"),
    json_out: Annotated[bool, typer.Option("--json", help="以 JSON 格式输出")] = False,
) -> None:
    """按时间先后列出模型版本，附大小和签名检查结果（不加载模型内容）。

    例：recommender models list --model models
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


@models_app.command("prune", cls=ZhCommand)
def models_prune(
    keep: Annotated[int, typer.Option(min=0, help="除 current 外保留最新的几个版本")],
    model: ModelsRoot = Path("models"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="只列出将删除的版本，不真正删除")
    ] = False,
) -> None:
    """删除旧的模型版本（从不删除 current）和中断训练留下的临时目录。

    例：recommender models prune --model models --keep 3
    """
    from recommender.lifecycle.versions import prune_versions

    removed = _artifact_call(prune_versions, model, keep, dry_run=dry_run)
    verb = "将删除" if dry_run else "已删除"
    typer.echo(f"{verb} {len(removed)} 个版本" + (f"：{', '.join(removed)}" if removed else ""))


@models_app.command("resign", cls=ZhCommand)
def models_resign(
    model: ModelsRoot = Path("models"),
    version: Annotated[str | None, typer.Option(help="某一个版本的目录名")] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="全部版本")] = False,
    trust_unsigned: Annotated[
        bool,
        typer.Option(help="连未签名的版本也签名（请先核实这些文件的来源）"),
    ] = False,
) -> None:
    """用当前签名密钥重新签名模型版本（密钥轮换后，或旧的未签名模型）。

    例：recommender models resign --model models --all
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


@models_app.command("rotate-key", cls=ZhCommand)
def models_rotate_key(model: ModelsRoot = Path("models")) -> None:
    """生成新的签名密钥放在密钥文件首行（旧密钥保留、仍被接受），并重新签名全部版本。

    例：recommender models rotate-key --model models
    """
    from recommender.lifecycle.versions import rotate_key

    new_id, done = _artifact_call(rotate_key, model)
    for name, what in done.items():
        typer.echo(f"{name}: {what}")
    typer.echo(
        f"新签名密钥编号 {new_id}；确认所有服务都已重新加载后，可删除密钥文件中的旧密钥行",
        err=True,
    )


@models_app.command("upgrade", cls=ZhCommand)
def models_upgrade(
    model: ModelsRoot = Path("models"),
    version: Annotated[str | None, typer.Option(help="某一个版本的目录名（默认全部）")] = None,
) -> None:
    """把旧格式 4（含 pickle）的模型版本转换为格式 5（不含 pickle，Ed25519 签名）。

    先用旧的 HMAC 签名密钥（XUANXUE_SIGNING_KEY / signing.key）验证，验证不通过的版本不转换；
    在训练机器上运行（需要签名私钥）。
    例：recommender models upgrade --model models
    """
    from recommender.lifecycle.artifacts import signing_keys
    from recommender.lifecycle.versions import upgrade_all, upgrade_version

    signer = _artifact_call(signing_keys, create=True)
    if version is None:
        done = _artifact_call(upgrade_all, model, signer)
    else:
        done = {version: _artifact_call(upgrade_version, model / version, signer)}
    for name, what in done.items():
        typer.echo(f"{name}: {what}")
    if any(w.startswith("refused") for w in done.values()):
        raise CLIError(
            "部分版本未转换（见上）：签名验证未通过，请核实来源或重新训练（upgrade_refused）"
        )


db_app = typer.Typer(
    cls=ZhGroup,
    no_args_is_help=True,
    help="门户报送的完成事件存放在事件库中（单个文件或 PostgreSQL 数据库）；此处创建与升级事件库。",
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade", cls=ZhCommand)
def db_upgrade(
    events: Annotated[
        str,
        typer.Option(
            "--events",
            envvar="XUANXUE_EVENTS_URL",
            help="事件库地址：postgresql://用户:密码@主机/库名、sqlite:///路径 或文件路径"
            "（不给出时，取环境变量 XUANXUE_EVENTS_URL 所写的地址）",
        ),
    ],
) -> None:
    """创建事件库的表，或把表结构升级到当前版本。

    可重复运行，也可在各副本运行时执行（加锁，一次只做一个升级）。

    例：recommender db upgrade --events postgresql://xuanxue@db.example/xuanxue
    """
    from recommender.lifecycle.events import open_event_store

    with open_event_store(events) as store:  # opening creates or migrates the schema
        before, after = store.migrated
        count = store.count()
    change = f"{before} → {after}（已升级）" if before != after else f"{after}（已是最新）"
    typer.echo(f"事件库 {store!r}：结构版本 {change}，共 {count} 条事件")


@app.command(cls=ZhCommand)
def serve(
    model: ModelPath = Path("models"),
    host: Annotated[
        str, typer.Option(help="监听地址（默认只本机可访问；0.0.0.0 为所有网卡）")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="监听端口")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="工作进程数（每个进程共享同一模型）")] = 1,
    rules: RulesOption = None,
) -> None:
    """启动 HTTP 服务（接口、接口文档和培训管理员控制台）；课程菜单按 --rules 规则制定。

    例：recommender serve --model models --port 8000
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
            if hasattr(exc, "ctx") and isinstance(exc.exit_code, int) and exc.exit_code == 2:
                typer.echo(usage_error_text(exc), err=True)  # a usage error, in Chinese
            else:
                exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("XUANXUE_DEBUG"):
            raise
        typer.echo(f"错误：{exc}", err=True)
        sys.exit(1)
