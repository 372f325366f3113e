"""Write every office variant into a folder: ``python -m benchmarks.office_variants OUT_DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.office_variants import generate


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write the variants into")
    args = ap.parse_args(argv)
    for v in generate(args.out):
        files = "、".join(f"{t}={p.name}" for t, p in v.files.items()) or "（夹具原文件）"
        print(f"{v.key:5} {v.label}  [{files}]")


if __name__ == "__main__":
    main()
