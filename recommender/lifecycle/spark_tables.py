"""The three tables read and validated as Spark jobs, with the library's own row rules.

Every rule and every Chinese message is the one :func:`recommender.data.loading.validate_frame`
applies; Spark only decides which rows each call sees:

1. **Row-local rules** (required, types, ranges, enums, sessions, ragged rows): each Arrow
   batch of a partition is a run of consecutive file rows, validated as one frame whose first
   row number is the batch's own, so every line carries its true row.
2. **Unknown ids** (completions): a join with the accepted cadre and course ids finds them;
   each such row is validated again on its own with the ids it does know, and the library
   writes the ``unknown_id`` line (with why the id's row was rejected, when it was).
3. **Duplicate keys** (courses, cadres): the rows of a repeated key, in file order, are
   validated together; the library names the first row, the later ones are rejected.

Row numbers are the Spark reader's records + 1 (the header is row 1): equal to the
spreadsheet row unless the CSV has empty lines (Spark skips them) or title rows above the
header (not supported here: the header must be the first line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.data.loading import validate_frame
from recommender.data.readers import (
    ZERO_WIDTH,
    RawTable,
    cell_to_str,
    normalize_header,
    rename_headers,
)
from recommender.data.rejects import REJECT_COLUMNS
from recommender.data.schema import TABLES, TableSpec

#: the row number of an info line (warnings, rejected keys) is minus its batch's first row
ROW, OK, INFO = "_row", "_ok", "_info"
_BLANK = "[\u200b\u2060\ufeff]"


@dataclass
class SparkTable:
    """One table read by Spark: the accepted rows (typed, ``_row`` kept), the problem lines
    (rejected rows and cleared cells) and what the load report needs."""

    name: str
    path: str
    accepted: Any  # pyspark DataFrame
    rejects: Any  # pyspark DataFrame with REJECT_COLUMNS
    rows_in: int
    warnings: list[str]
    rejected_ids: dict[str, str]


def spark_type_of(dtype) -> str:
    """Spark SQL type of a validated column's pandas dtype."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "string"


def typed_schema(spec: TableSpec) -> list[tuple[str, str]]:
    """(column, Spark type) of the accepted frame, as ``validate_frame`` types it."""
    empty = pd.DataFrame({c: pd.Series([], dtype=str) for c in spec.required})
    frame = validate_frame(empty, spec).frame
    return [(c, spark_type_of(frame[c].dtype)) for c in frame.columns]


def _ddl(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{c}` {t}" for c, t in columns)


def read_source(spark, path: str, spec: TableSpec):
    """(DataFrame with positional columns ``c0…`` and ``_row``, canonical names, headers)."""
    if path.rstrip("/").lower().endswith(".csv"):
        reader = spark.read.option("header", True).option("escape", '"')
        reader = reader.option("multiLine", spec.name != "completions").option("encoding", "UTF-8")
        df = reader.csv(path)
    else:
        df = spark.read.parquet(path)
    original = [str(c).strip(" \t\r\n" + ZERO_WIDTH) for c in df.columns]
    names, _dupes = rename_headers([normalize_header(c) for c in df.columns], spec)
    positional = [f"c{i}" for i in range(len(df.columns))]
    df = df.toDF(*positional)
    headers = {n: o or n for n, o in zip(names, original, strict=True)}
    empty = pd.DataFrame({n: pd.Series([], dtype=str) for n in dict.fromkeys(names)})
    file = path.rstrip("/").rsplit("/", 1)[-1]
    validate_frame(empty, spec, path=file, table=RawTable(empty, headers=headers))  # columns
    return with_row_numbers(df), names, headers


def with_row_numbers(df, first: int = 2):
    """``df`` with ``_row``: its records numbered in partition order from ``first`` (one
    counting job; no shuffle, unlike a window over the whole table)."""
    from pyspark.sql import functions as F

    df = df.withColumn("_mid", F.monotonically_increasing_id())
    part = (F.col("_mid") / F.lit(2**33)).cast("long")
    counts = dict(df.groupBy(part.alias("p")).count().collect())
    offsets, total = {}, first
    for p in sorted(counts):
        offsets[p] = total
        total += counts[p]
    if not offsets:
        return df.withColumn(ROW, F.lit(0).cast("long")).drop("_mid")
    start = F.create_map(*[x for p, o in offsets.items() for x in (F.lit(p), F.lit(o))])
    local = F.col("_mid") - part * F.lit(2**33)
    return df.withColumn(ROW, (start[part] + local).cast("long")).drop("_mid")


def library_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows collected from Spark with the columns and dtypes the library's loader gives
    table ``name`` (what ``validate_frame`` makes of the same cells)."""
    spec = TABLES[name]
    empty = validate_frame(pd.DataFrame({c: pd.Series([], dtype=str) for c in spec.required}), spec)
    for col in empty.frame.columns:
        dtype = empty.frame[col].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            frame[col] = pd.to_datetime(frame[col]).astype(dtype)
        else:
            frame[col] = frame[col].astype(dtype)
    return frame[list(empty.frame.columns)]


def _text(col: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(col):  # CSV: strings and nulls (empty cells)
        return col.fillna("").astype(str)
    return col.astype(object).map(cell_to_str).astype(str)


def _cells(pdf: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The batch as the library's string grid under canonical names (native Parquet values
    rendered as a CSV export would hold them)."""
    raw = pd.DataFrame({n: _text(pdf[f"c{i}"]) for i, n in enumerate(names)})
    raw.index = range(len(raw))
    return raw


def _norm(col: pd.Series) -> np.ndarray:
    """Cells compared without whitespace, zero-width or control characters."""
    text = col.astype(object).map(cell_to_str).astype(str)
    text = text.str.replace(f"[{ZERO_WIDTH}\\x00-\\x1f\\x7f]", "", regex=True).str.strip()
    return text.to_numpy(dtype=object)


def accepted_rows(
    raw: pd.DataFrame, rows: np.ndarray, frame: pd.DataFrame, bad: set, spec: TableSpec
) -> np.ndarray:
    """The file row of each accepted row: the frame keeps file order, so each is matched to
    the next candidate row (not rejected) whose text cells it holds. Rows the library skips
    (blank, 合计/注 lines, exact repeats) match nothing or an earlier twin; a cell the library
    fills in (an id derived from 身份证号) is not compared."""
    text = {f.name for f in spec.fields if f.kind == "str"}
    cols = [c for c in frame.columns if c in raw and c in text]
    cand = [i for i in range(len(rows)) if int(rows[i]) not in bad]
    have = {c: _norm(raw[c]) for c in cols}
    want = {c: _norm(frame[c]) for c in cols}
    if len(cand) == len(frame):  # nothing skipped (the usual case): check in one pass
        idx = np.asarray(cand, dtype=np.int64)
        same = np.ones(len(frame), bool)
        filled = np.zeros(len(frame), bool)
        for c in cols:
            h = have[c][idx]
            same &= (h == want[c]) | (h == "")
            filled |= h != ""
        if (same & filled).all():
            return rows[idx]
    out, i = np.empty(len(frame), np.int64), 0
    for j in range(len(frame)):
        while i < len(cand):
            k = cand[i]
            i += 1
            cells = [(have[c][k], want[c][j]) for c in cols]
            if any(h for h, _ in cells) and all(h in ("", w) for h, w in cells):
                out[j] = rows[k]
                break
        else:
            diff = [c for c in cols if want[c][j] not in (have[c][cand[min(j, len(cand) - 1)]], "")]
            raise RuntimeError(f"accepted row {j} could not be matched to a file row ({diff})")
    return out


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with text columns as Python objects: pandas 3's Arrow-backed strings can be
    chunked after a concat, and Spark's Arrow batches take single arrays only."""
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    return frame.astype(dict.fromkeys(text, object)) if text else frame


def _info_row(columns: list[str], row: int, info: dict) -> pd.DataFrame:
    out = pd.DataFrame({c: [None] for c in columns})
    out[ROW], out[OK], out[INFO] = -row, False, json.dumps(info, ensure_ascii=False, default=str)
    return out


def validate_batches(batches, *, spec, names, headers, path, columns, known=None, why=None):
    """mapInPandas body of step 1 (and, with ``known``, of step 2): validate each batch with
    the library; yield accepted rows, a carrier row per rejected row and one info row."""
    for pdf in batches:
        if pdf.empty:
            continue
        rows = pdf[ROW].to_numpy(np.int64)
        raw = _cells(pdf, names)
        kw = {}
        if known is not None:
            kw = _references(pdf, raw, known, why)
        if not np.array_equal(rows, rows[0] + np.arange(len(rows))):
            raise RuntimeError(f"{path}: a batch of rows is not consecutive")
        load = validate_frame(
            raw,
            spec,
            path=path,
            table=RawTable(raw, headers=headers, first_row=int(rows[0])),
            **kw,
        )
        bad = set(load.rejects["row"].tolist())
        kept = accepted_rows(raw, rows, load.frame, bad, spec)
        frame = load.frame.copy()
        frame[ROW], frame[OK], frame[INFO] = kept, True, None
        carriers = pd.DataFrame({c: [None] * len(bad) for c in columns})
        carriers[ROW], carriers[OK], carriers[INFO] = sorted(bad), False, None
        info = {
            "lines": load.problems().to_dict("records"),
            "warnings": load.warnings,
            "rejected_ids": load.rejected_ids,
        }
        parts = [frame, carriers, _info_row(columns, int(rows[0]), info)]
        out = pd.concat([p for p in parts if len(p)], ignore_index=True)
        yield plain(out[[*columns, ROW, OK, INFO]])


def _references(pdf, raw, known, why) -> dict:
    """known_ids / rejected_ids for rows validated one by one in step 2."""
    ids, reasons = {}, {}
    for column, flag in known.items():
        vals = pdf[f"_v_{column}"].astype(str)  # the validated (cleaned) value
        ids[column] = set(vals[pdf[flag].fillna(False).to_numpy(bool)].tolist())
        reasons[column] = {v: why[column][v] for v in vals if v in why.get(column, {})}
    return {"known_ids": ids, "rejected_ids": reasons}


def revalidate_rows(batches, *, keep_rule, **kw):
    """Validate each row alone (its own row number) and keep the lines of ``keep_rule``."""
    for pdf in batches:
        for i in range(len(pdf)):
            for out in validate_batches(iter([pdf.iloc[[i]]]), **kw):
                info = out[out[ROW] < 0]
                yield plain(_keep_lines(info, keep_rule))


def duplicate_group(pdf: pd.DataFrame, *, spec, names, headers, path, columns) -> pd.DataFrame:
    """applyInPandas body of step 3: the rows of one key, validated together in file order;
    the library's ``duplicate`` lines, moved to each row's own number."""
    pdf = pdf.sort_values(ROW).reset_index(drop=True)
    rows = pdf[ROW].to_numpy(np.int64)
    raw = _cells(pdf, names)
    load = validate_frame(
        raw, spec, path=path, table=RawTable(raw, headers=headers, first_row=int(rows[0]))
    )
    lines = load.rejects[load.rejects["rule"] == "duplicate"].copy()
    lines["row"] = rows[lines["row"].to_numpy() - rows[0]]
    info = {"lines": lines.to_dict("records"), "warnings": [], "rejected_ids": {}}
    return plain(_info_row(columns, int(rows[0]), info)[[*columns, ROW, OK, INFO]])


def _keep_lines(info: pd.DataFrame, rule: str) -> pd.DataFrame:
    out = info.copy()
    blobs = []
    for blob in out[INFO]:
        data = json.loads(blob)
        data["lines"] = [ln for ln in data["lines"] if ln["rule"] == rule]
        data["warnings"], data["rejected_ids"] = [], {}
        blobs.append(json.dumps(data, ensure_ascii=False, default=str))
    out[INFO] = blobs
    return out


def spec_without_unique(spec: TableSpec) -> TableSpec:
    """``spec`` with uniqueness left to step 3 (it spans batches)."""
    return replace(spec, fields=tuple(replace(f, unique=False) for f in spec.fields))


def problem_lines(spark, validated):
    """The problem lines (REJECT_COLUMNS) carried by the info rows of a validated frame."""
    from pyspark.sql import functions as F

    line = (
        "struct<"
        + ",".join(f"`{c}`:{'bigint' if c == 'row' else 'string'}" for c in REJECT_COLUMNS)
        + ">"
    )
    schema = f"struct<lines:array<{line}>>"
    info = validated.filter(F.col(ROW) < 0).select(F.from_json(INFO, schema).alias("i"))
    return info.select(F.explode("i.lines").alias("l")).select(
        *[F.col(f"l.`{c}`").alias(c) for c in REJECT_COLUMNS]
    )


def side_info(validated) -> tuple[list[str], dict[str, str]]:
    """Warnings (deduplicated) and rejected keys → why, from the info rows (driver)."""
    from pyspark.sql import functions as F

    warnings: list[str] = []
    rejected: dict[str, str] = {}
    rows = validated.filter(F.col(ROW) < 0).select(ROW, INFO).orderBy(F.col(ROW).desc()).collect()
    for row in rows:
        data = json.loads(row[INFO])
        warnings += [w for w in data["warnings"] if w not in warnings]
        for key, why in data["rejected_ids"].items():
            rejected.setdefault(key, why)
    return warnings, rejected


def load_table_spark(
    spark, path: str, name: str, *, accepted_ids=None, rejected=None
) -> SparkTable:
    """Read and validate one table on Spark (steps 1–3 above)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spec = TABLES[name]
    source, names, headers = read_source(spark, path, spec)
    source = source.cache()
    columns = [c for c, _ in typed_schema(spec)]
    ddl = _ddl([*typed_schema(spec), (ROW, "bigint"), (OK, "boolean"), (INFO, "string")])
    file = path.rstrip("/").rsplit("/", 1)[-1]
    kw = dict(names=names, headers=headers, path=file, columns=columns)
    step1 = source.mapInPandas(
        lambda it: validate_batches(it, spec=spec_without_unique(spec), **kw), ddl
    ).cache()
    parts = [step1]
    ok = step1.filter(F.col(OK))
    extra_bad = None
    if accepted_ids:  # step 2: references
        flagged = ok.select(ROW, *accepted_ids)
        for column, ids in accepted_ids.items():
            flag = f"_known_{column}"
            flagged = flagged.join(
                ids.select(F.col(column), F.lit(True).alias(flag)), column, "left"
            )
        known = {c: f"_known_{c}" for c in accepted_ids}
        unknown = flagged.filter(" OR ".join(f"`{f}` IS NULL" for f in known.values())).select(
            ROW, *known.values(), *[F.col(c).alias(f"_v_{c}") for c in known]
        )
        unknown = unknown.cache()
        if unknown.limit(1).count():
            rows = source.join(unknown, ROW)
            step2 = rows.mapInPandas(
                lambda it: revalidate_rows(
                    it, keep_rule="unknown_id", spec=spec, known=known, why=rejected or {}, **kw
                ),
                ddl,
            )
            parts.append(step2)
            extra_bad = unknown.select(ROW)
    key = next((f.name for f in spec.fields if f.unique), None)
    if key is not None:  # step 3: duplicates among otherwise valid rows
        counted = ok.select(ROW, key).withColumn("_n", F.count("*").over(Window.partitionBy(key)))
        repeated = counted.filter("_n > 1").select(ROW, F.col(key).alias("_key")).cache()
        if repeated.limit(1).count():
            step3 = (
                source.join(repeated, ROW)
                .groupBy("_key")
                .applyInPandas(
                    lambda pdf: duplicate_group(pdf.drop(columns="_key"), spec=spec, **kw), ddl
                )
                .cache()
            )
            parts.append(step3)
            dupes = problem_lines(spark, step3).select(F.col("row").alias(ROW))
            extra_bad = dupes if extra_bad is None else extra_bad.union(dupes)
    accepted = ok.drop(OK, INFO)
    if extra_bad is not None:
        accepted = accepted.join(extra_bad.distinct(), ROW, "left_anti")
    rejects = problem_lines(spark, parts[0])
    for p in parts[1:]:
        rejects = rejects.union(problem_lines(spark, p))
    warnings, rejected_ids = side_info(step1)
    rows_in = step1.filter(F.col(ROW) > 0).count()
    return SparkTable(name, path, accepted, rejects, rows_in, warnings, rejected_ids)
