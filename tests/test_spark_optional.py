"""pyspark is an optional extra: the library, single-machine training and serving never import
it, and the Spark commands say in Chinese how to install it when it is missing (fast: no JVM)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: run Python as if pyspark were not installed
BLOCK = "import sys; sys.modules['pyspark'] = None\n"


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_library_imports_without_pyspark_and_says_how_to_install_it():
    """Importing the library (Spark modules included) loads no pyspark; starting a Spark job
    without it raises SparkUnavailableError with the install command."""
    code = """
        import sys
        import recommender, recommender.cli, recommender.lifecycle.train
        import recommender.lifecycle.spark_engine, recommender.lifecycle.spark_batch
        import recommender.lifecycle.spark_cluster, recommender.lifecycle.spark_signals
        print("LOADED", "pyspark" in sys.modules)
        sys.modules["pyspark"] = None  # as if not installed
        from recommender.lifecycle.spark_session import SparkUnavailableError, spark_session
        try:
            spark_session("local[1]")
        except SparkUnavailableError as exc:
            print("MISSING", exc)
        """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "LOADED False" in out.stdout
    assert "MISSING" in out.stdout and "pip install 'xuanxue[spark]'" in out.stdout


def test_cli_spark_engine_without_pyspark_fails_with_a_message(tmp_path):
    code = """
        import sys
        from recommender.cli import main
        sys.argv = ["recommender", *sys.argv[1:]]
        main()
        """
    out = _run(
        code, "train", "--engine", "spark", "--data", "data/sample", "--out", str(tmp_path / "m")
    )
    assert out.returncode == 1
    assert "未安装 pyspark" in out.stderr + out.stdout
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").glob("2*"))


def test_cli_recommend_all_needs_the_spark_engine(tmp_path):
    code = """
        import sys
        from recommender.cli import main
        sys.argv = ["recommender", *sys.argv[1:]]
        main()
        """
    out = _run(code, "recommend", "--all", "--output", str(tmp_path / "r.parquet"))
    assert out.returncode == 2
    assert "--engine spark" in out.stderr + out.stdout
