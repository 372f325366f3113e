"""``python -m samplegen --out DIR [--scale small] [--seed N]``: write a synthetic data directory.

A development tool (tests, benchmarks, ``make run`` on a fresh clone): it is not part of the
installed ``recommender`` library and the wheel does not contain it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from samplegen import SCALES, generate_sample

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    out: Annotated[Path, typer.Option("--out", help="directory to write")],
    scale: Annotated[str, typer.Option(help="tiny | small | medium | large | xlarge")] = "small",
    seed: Annotated[int, typer.Option(help="random seed (same seed → same files)")] = 20260101,
) -> None:
    """Write a synthetic data directory.

    Example: python -m samplegen --out data/sample --scale small
    """
    if scale not in SCALES:
        raise typer.BadParameter(f"unknown scale {scale!r}", param_hint="--scale")
    try:
        counts = generate_sample(out, scale=scale, seed=seed)
    except OSError as exc:
        typer.echo(f"错误：无法写入 {out}：{exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()) + f" → {out}")


if __name__ == "__main__":
    app()
