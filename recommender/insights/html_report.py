"""The planners' notebooks as ONE self-contained HTML file: ``recommender report``.

Each notebook in ``notebooks/`` has a cell tagged ``parameters`` (data directory or table
files, model directory); papermill runs it with the planner's values injected, nbconvert turns
the executed notebooks into one HTML page without the code. Charts are PNG data URIs inside the
page and no script or style is fetched from elsewhere, so the file opens in any browser, on an
intranet, from a USB stick, with no server.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from recommender.data.safe_write import write_text

__all__ = ["ReportError", "default_notebooks", "render_report"]

log = logging.getLogger(__name__)

#: the kernel the report runs the notebooks in: this interpreter (so this environment)
KERNEL_NAME = "xuanxue-report"
#: scripts and styles fetched from the network by nbconvert's templates (MathJax, require.js)
_REMOTE = re.compile(
    r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>|<link[^>]*\bhref=[\"']https?://[^>]*>"
    r"|<script[^>]*>(?:(?!</script>).)*?\bimport\(\s*[\"']https?://(?:(?!</script>).)*</script>",
    re.IGNORECASE | re.DOTALL,
)


class ReportError(Exception):
    """The report could not be made (missing notebooks, a failing cell); message in Chinese."""


def default_notebooks() -> list[Path]:
    """The project's planner notebooks (``notebooks/*.ipynb`` beside the package)."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    return sorted(folder.glob("[0-9]*.ipynb"))


@contextmanager
def _kernel(root: Path) -> Iterator[str]:
    """A kernelspec that runs ``sys.executable``, first on JUPYTER_PATH while in use."""
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    argv.append("--IPKernelApp.log_level=CRITICAL")  # no transport or shutdown notes on stderr
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "xuanxue", "language": "python"}),
        encoding="utf-8",
    )
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "MPLBACKEND")}
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), saved["JUPYTER_PATH"]]))
    os.environ["MPLBACKEND"] = "agg"
    try:
        yield KERNEL_NAME
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _parameters(
    data: Path | str | None, model: Path | str | None, files: Mapping[str, Path | str | None]
) -> dict[str, str]:
    """Absolute paths (the kernel runs in the notebooks' folder), '' for 'not given'."""

    def path(value: Path | str | None) -> str:
        return str(Path(value).resolve()) if value else ""

    params = {"data": path(data), "model": path(model)}
    params.update({t: path(files.get(t)) for t in ("courses", "cadres", "completions")})
    return params


def _run(notebook: Path, out: Path, params: dict[str, str], kernel: str, progress: bool) -> object:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        return papermill.execute_notebook(
            str(notebook),
            str(out),
            parameters=params,
            kernel_name=kernel,
            cwd=str(notebook.parent),
            progress_bar=progress,
            log_output=False,
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        raise ReportError(
            f"笔记本 {notebook.name} 第 {exc.exec_count} 个代码格运行出错："
            f"{exc.ename}: {exc.evalue}"
        ) from exc


def _title_cell(params: dict[str, str]):
    import nbformat

    data = params["data"] or "、".join(
        filter(None, (params[t] for t in ("courses", "cadres", "completions")))
    )
    lines = [
        "# 选学 · 需求缺口与课程目录报告",
        "",
        f"- 生成时间：{datetime.now():%Y-%m-%d %H:%M}",
        f"- 数据：{data or '样例数据 data/sample'}",
        f"- 模型：{params['model'] or '默认（models/current）'}",
        "",
        (
            "本报告由 `recommender report` 生成，图表已嵌入页面，可离线打开、转发；"
            "“需求示例”摘自需求调查原话，仅供规划参考，请勿外传。"
        ),
    ]
    return nbformat.v4.new_markdown_cell("\n".join(lines))


def _merge(executed: Sequence[object], params: dict[str, str]):
    """One notebook: a title, then every notebook's cells without parameters and stderr."""
    import nbformat

    merged = nbformat.v4.new_notebook()
    merged.metadata = dict(executed[0].metadata)
    merged.metadata.pop("papermill", None)
    merged.cells.append(_title_cell(params))
    for nb in executed:
        for cell in nb.cells:
            tags = set(cell.metadata.get("tags", []))
            if tags & {"parameters", "injected-parameters"}:
                continue
            if cell.cell_type == "code":
                cell.outputs = [
                    o
                    for o in cell.outputs
                    if not (o.output_type == "stream" and o.name == "stderr")
                ]
            merged.cells.append(cell)
    return merged


def _html(notebook) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", exclude_input=True, exclude_input_prompt=True, embed_images=True
    )
    exporter.exclude_output_prompt = True
    exporter.log.setLevel(logging.ERROR)  # not its note on charts without alt text
    body, _ = exporter.from_notebook_node(notebook)
    body = _REMOTE.sub("", body)
    return body.replace("<title>Notebook</title>", "<title>选学 · 需求缺口与课程目录报告</title>")


def render_report(
    out: Path | str,
    *,
    data: Path | str | None = None,
    model: Path | str | None = None,
    files: Mapping[str, Path | str | None] | None = None,
    notebooks: Sequence[Path] | None = None,
    progress: bool | None = None,
) -> Path:
    """Run the planner notebooks on ``data`` (or the table ``files``) and ``model`` and write
    them as one self-contained HTML page to ``out``. Empty data/model: the notebooks' defaults
    (the sample, ``models/current``)."""
    books = list(notebooks) if notebooks is not None else default_notebooks()
    if not books:
        raise ReportError("找不到规划笔记本（notebooks/*.ipynb），请用 --notebooks 指定目录")
    missing = [str(p) for p in books if not Path(p).is_file()]
    if missing:
        raise ReportError(f"笔记本不存在：{'、'.join(missing)}")
    params = _parameters(data, model, files or {})
    show = sys.stderr.isatty() if progress is None else progress
    with tempfile.TemporaryDirectory(prefix="xuanxue-report-") as tmp:
        root = Path(tmp)
        with _kernel(root / "jupyter") as kernel:
            executed = [_run(Path(nb), root / Path(nb).name, params, kernel, show) for nb in books]
    html = _html(_merge(executed, params))
    out = Path(out)
    write_text(out, html)  # the one safe writer: temp file + rename, no symlink followed
    log.info("report: %d notebooks → %s (%d bytes)", len(books), out, len(html))
    return out
