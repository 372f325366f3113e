"""A county party school's export loads as exported (tests/fixtures/county, issue 19).

The three files are what an office sends: a catalog workbook with a merged title, a
vertically merged 课程类别, 学时 in 半天/一天/90分钟, methods in 授课形式, dates without a
time and periods for 开课时间, a 合计 and a 注： line; a roster keyed by 身份证号 with 姓名;
a GBK platform export with duplicate rows, ids Excel turned into 4.29125E+17 and records of
platform 专题网班 courses. Regenerate with ``python tests/fixtures/county_export.py``.
"""

from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from recommender.data.catalog import AudienceIndex, audience_tags, resolve_audience
from recommender.data.features import hours_earned
from recommender.data.identity import (
    TEST_ID_SECRET,
    cadre_key,
    find_cadre,
    hash_id_card,
    id_card_problem,
    is_id_card,
    mask_id_card,
    search_cadres,
)
from recommender.data.loading import load_dataset
from recommender.data.rules import load_rules
from recommender.data.schema import Columns as C
from tests.fixtures import county_export as gen

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "county"
FILES = gen.files(FIXTURE)
ID18 = re.compile(r"\d{17}[\dXx]")


def sheet_rows(path: Path, sheet: str | None = None, min_row: int = 1) -> list[tuple]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        ws = book[sheet] if sheet else book.active
        return list(ws.iter_rows(min_row=min_row, values_only=True))
    finally:
        book.close()


def roster_ids() -> list[str]:
    """Every 身份证号 of the roster, as the office typed it (normalised)."""
    out = []
    for row in sheet_rows(FILES["cadres"]):
        for v in row:
            t = "".join(str(v or "").split()).upper()
            if ID18.fullmatch(t):
                out.append(t)
    return out


def record_rows() -> list[list[str]]:
    text = FILES["completions"].read_bytes().decode("gbk")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture(scope="module")
def loaded():
    return load_dataset(files=FILES, write_rejects=False, id_secret=TEST_ID_SECRET)


def test_generator_writes_the_committed_files(tmp_path: Path) -> None:
    paths = gen.generate(tmp_path)
    for name, path in paths.items():
        assert path.read_bytes() == FILES[name].read_bytes(), name
    assert sum(p.stat().st_size for p in FILES.values()) < 1_000_000


def test_at_least_95_percent_of_each_table_is_accepted(loaded) -> None:
    for load in loaded.loads.values():
        kept = len(load.frame) + len(load.external)
        assert load.rows_in >= 100 and kept >= 0.95 * load.rows_in, load.name
    assert len(loaded.courses) >= 110 and len(loaded.cadres) >= 195
    assert len(loaded.completions) >= 1_900


def test_every_reject_is_explained_in_chinese_with_file_row_and_column(loaded) -> None:
    lines = loaded.rejects()
    assert len(lines)
    assert lines["reason"].str.contains("[\u4e00-\u9fff]").all()
    assert lines["file"].isin([p.name for p in FILES.values()]).all()
    assert (lines["row"] >= 2).all() and (lines["column"] != "").all()
    assert set(lines["rule"]) <= {"duplicate", "id_mangled_by_excel", "unscheduled"}
    report = "\n".join(loaded.report_lines())
    assert "合计行 1 行" in report and "注释/说明行 1 行" in report
    assert "完全重复的行" in report and "目录外课程的记录" in report


def test_excel_mangled_ids_get_their_own_message(loaded) -> None:
    mangled = [r for r in record_rows()[1:] if "E+17" in r[0]]
    lines = loaded.loads["completions"].rejects
    own = lines[lines["rule"] == "id_mangled_by_excel"]
    assert len(mangled) >= 10 and own["row"].nunique() == len(mangled)
    assert own["reason"].str.contains("科学计数法").all()
    assert (own["column"] == "身份证号").all()
    assert id_card_problem("429125197710213000")[1] == "id_mangled_by_excel"
    assert id_card_problem("4291")[1] == "bad_id_card"


def test_exact_duplicates_dropped_and_counted(loaded) -> None:
    rows = [tuple(r) for r in record_rows()[1:]]
    expected = len(rows) - len(set(rows))
    assert expected >= 20
    load = loaded.loads["completions"]
    assert load.skipped["duplicates"] == expected
    assert load.rows_in == len(rows) - expected
    assert any("完全重复" in w for w in loaded.warnings)


def test_records_outside_the_catalog_are_kept_apart_as_external(loaded) -> None:
    platform = [r for r in record_rows()[1:] if r[4].startswith("ZTWB") and "E+17" not in r[0]]
    ext = loaded.external
    assert len(ext) == len({tuple(r) for r in platform}) > 0
    assert set(ext[C.COURSE_ID]) <= {c for c, _, _ in gen.SPECIAL}
    assert ext[C.TITLE].str.contains("专题网班").all()
    assert not set(ext[C.COURSE_ID]) & set(loaded.completions[C.COURSE_ID])
    assert set(ext[C.CADRE_ID]) <= set(loaded.cadres[C.CADRE_ID])
    # they count toward this year's hours, exactly once per course
    earned = hours_earned(loaded.completions, loaded.courses, loaded.external, year=2026)
    some = ext[C.CADRE_ID].iloc[0]
    mine = loaded.completions[loaded.completions[C.CADRE_ID] == some]
    theirs = ext[ext[C.CADRE_ID] == some]
    total = mine.drop_duplicates(C.COURSE_ID)[C.CREDIT_HOURS_AWARDED].sum()
    total += theirs.drop_duplicates(C.COURSE_ID)[C.CREDIT_HOURS_AWARDED].sum()
    assert earned[some] == pytest.approx(total)
    assert hours_earned(loaded.completions, loaded.courses, loaded.external, year=2025).empty


def test_catalog_cells_as_the_office_wrote_them(loaded) -> None:
    courses = loaded.courses.set_index(C.COURSE_ID)
    raw = {r[2]: r for r in sheet_rows(FILES["courses"], "课程目录", min_row=4) if r[2]}
    rules = load_rules()
    for cid, r in raw.items():
        row = courses.loc[cid]
        hours, form, start = r[6], r[5], r[7]
        want = {"半天": rules.half_day_hours, "一天": rules.day_hours, "两天": 2 * rules.day_hours,
                "90分钟": 2.0, "45分钟": 1.0}.get(str(hours))  # fmt: skip
        if want is not None:
            assert row[C.CREDIT_HOURS] == want, cid
        assert row[C.CATEGORY] != ""  # the vertically merged 课程类别, filled down
        if form in ("专题讲座", "现场教学", "研讨", "案例教学"):
            assert row[C.FORMAT] == "face_to_face" and row[C.METHOD] != "", cid
        if form in ("网络课程",):
            assert row[C.FORMAT] == "video"
        if start and re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", str(start)):
            assert row[C.SESSION_START].hour == 8 and row[C.SESSION_END].hour == 18, cid
        if start and ("半年" in str(start) or start == "待定"):
            assert pd.isna(row[C.SESSION_START]), cid
    assert courses.loc[courses.index[0], C.CATEGORY] == "政治理论"
    unscheduled = loaded.loads["courses"].cleared
    assert (unscheduled["rule"] == "unscheduled").all() and len(unscheduled) > 5
    assert unscheduled["reason"].str.contains("未排期").all()


def test_roster_is_pseudonymised_and_names_kept(loaded) -> None:
    cadres = loaded.cadres
    ids = roster_ids()
    assert cadres[C.CADRE_ID].str.fullmatch(r"pid_[0-9a-f]{24}").all()
    assert cadres[C.ID_MASKED].str.fullmatch(r"\d{4}\*{10}[\dX]{4}").all()
    assert (cadres[C.NAME] != "").all()
    frames = [cadres, loaded.completions, loaded.external, loaded.rejects()]
    text = "\n".join(map(str, pd.concat(frames).to_numpy().ravel()))
    text += "\n".join(loaded.warnings) + "\n".join(loaded.report_lines())
    assert not any(i in text or i.lower() in text for i in ids)
    # the completions' 身份证号 map to the same hashed ids as the roster's
    assert set(loaded.completions[C.CADRE_ID]) <= set(cadres[C.CADRE_ID])
    assert loaded.completions[C.CADRE_ID].nunique() >= 190
    assert (
        loaded.loads["cadres"].identity["key_id"] == loaded.loads["completions"].identity["key_id"]
    )


def test_lookup_by_full_id_card_and_search_by_name(loaded) -> None:
    cadres = loaded.cadres
    ids = roster_ids()
    for raw in ids[:50]:
        cid = find_cadre(cadres, raw, TEST_ID_SECRET)
        assert cid == hash_id_card(raw, TEST_ID_SECRET) == cadre_key(raw, TEST_ID_SECRET)
        assert cadres.set_index(C.CADRE_ID).loc[cid, C.ID_MASKED] == mask_id_card(raw)
    lower = next(i for i in ids if i.endswith("X"))
    assert find_cadre(cadres, " " + lower.lower() + " ", TEST_ID_SECRET) is not None
    assert find_cadre(cadres, ids[0], b"another-secret-of-enough-length") is None
    assert find_cadre(cadres, cadres[C.CADRE_ID].iloc[3], None) == cadres[C.CADRE_ID].iloc[3]
    assert find_cadre(cadres, "429125199901011234", TEST_ID_SECRET) is None
    name = cadres[C.NAME].iloc[7]
    hits = search_cadres(cadres, name)
    assert hits[C.NAME].iloc[0] == name and C.ID_MASKED in hits
    assert (search_cadres(cadres, name[0])[C.NAME].str.contains(name[0])).all()
    unit = search_cadres(cadres, "应急管理局")
    assert len(unit) and unit[C.UNIT].str.contains("应急管理局").all()
    by_id = search_cadres(cadres, ids[5], secret=TEST_ID_SECRET)
    assert by_id[C.CADRE_ID].iloc[0] == hash_id_card(ids[5], TEST_ID_SECRET)
    assert not any(ID18.search(v) for v in by_id.astype(str).to_numpy().ravel())
    assert search_cadres(cadres, "").empty and search_cadres(cadres, "不存在的人").empty
    assert is_id_card(ids[0]) and not is_id_card(ids[0][:17] + "0" if ids[0][17] != "0" else "1")


def test_audiences_as_people_write_them_admit_the_right_cadres(loaded) -> None:
    rules = load_rules()
    index = AudienceIndex(loaded.courses[C.AUDIENCE])
    assert index.unknown == ["应急系统干部"]
    assert any("应急系统干部" in w and "全体" in w for w in loaded.warnings)
    counts = []
    for _, cadre in loaded.cadres.iterrows():
        tags = audience_tags(cadre.to_dict(), rules.rank_band(cadre[C.RANK]))
        mask = index.mask(tags)
        counts.append(int(mask.sum()))
        everyone = loaded.courses[C.AUDIENCE].isin(["全体学员", "全体干部", "应急系统干部"])
        assert mask[everyone.to_numpy()].all()
    assert min(counts) >= 60 and max(counts) < len(loaded.courses)
    assert resolve_audience("乡镇和县直单位干部")[0] == [
        frozenset({"level:township"}),
        frozenset({"level:county"}),
    ]
    village = loaded.cadres[loaded.cadres[C.UNIT].str.endswith("委员会")].iloc[0].to_dict()
    tags = audience_tags(village, rules.rank_band(village[C.RANK]))
    assert "level:village" in tags
    assert resolve_audience("村（社区）干部")[0][0] <= tags


def test_control_characters_are_stripped_with_a_count(tmp_path: Path) -> None:
    from recommender.data.loading import load_table
    from recommender.data.schema import COURSES

    path = tmp_path / "courses.csv"
    path.write_text(
        "课程编号,课程名称,课程类别,学时\nK1,安全\x01生产\x02法,应急管理,2\nK2,预算\x1f管理,经济金融,半天\n",
        encoding="utf-8",
    )
    load = load_table(path, COURSES)
    assert load.frame[C.TITLE].tolist() == ["安全生产法", "预算管理"]
    assert load.frame[C.CREDIT_HOURS].tolist() == [2.0, 3.0]
    assert any("删除 3 个控制字符" in w for w in load.warnings)


def test_trained_artifact_and_rejects_hold_no_id_card_number(tmp_path, monkeypatch, caplog):
    """Train on the export as exported: no file of the model version, no rejects file and no
    log line holds a full 身份证号; every roster cadre is served by the full number."""
    import logging
    import shutil

    from recommender.lifecycle.artifacts import load_model
    from recommender.lifecycle.train import train

    secret = "county-test-secret-0123456789"
    monkeypatch.setenv("XUANXUE_ID_SECRET", secret)
    data = tmp_path / "data"
    data.mkdir()
    files = {name: shutil.copy(path, data / path.name) for name, path in FILES.items()}
    caplog.set_level(logging.DEBUG)
    rejects = tmp_path / "rejects"
    version = train(data, tmp_path / "models", files=files, rejects_dir=rejects)
    ids = set(roster_ids())
    blobs = {p: p.read_bytes() for p in version.iterdir() if p.is_file()}
    blobs.update({p: p.read_bytes() for p in rejects.glob("*.rejects.csv")})
    blobs["log"] = caplog.text.encode()
    assert len(blobs) >= 5 and any(str(p).endswith("completions.rejects.csv") for p in blobs)
    for where, blob in blobs.items():
        for i in ids:
            for form in (i, i.lower(), i[:17]):
                assert form.encode() not in blob, (where, i[:4])
                assert form.encode("utf-16-le") not in blob, (where, i[:4])
    model = load_model(tmp_path / "models")
    short = []
    for i in ids:
        cid = find_cadre(model.cadres, i, secret)
        assert cid is not None
        if len(model.recommend(cid, 10)) < 5:
            short.append(cid)
    assert not short


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_a_roster_keyed_by_its_own_number_keeps_it(tmp_path: Path) -> None:
    courses = _csv(
        tmp_path / "courses.csv", "课程编号,课程名称,课程类别,学时\nK1,安全生产,应急管理,半天\n"
    )
    cadres = _csv(tmp_path / "cadres.csv", "工号,姓名,单位\nA001,张三,县应急管理局\n")
    records = _csv(tmp_path / "records.csv", "工号,课程编号,完成时间\nA001,K1,2026-03-01\n")
    ds = load_dataset(
        files={"courses": courses, "cadres": cadres, "completions": records}, write_rejects=False
    )
    assert ds.cadres[C.CADRE_ID].tolist() == ["A001"] and ds.cadres[C.NAME].tolist() == ["张三"]
    assert ds.completions[C.CADRE_ID].tolist() == ["A001"]
    assert ds.courses[C.CREDIT_HOURS].tolist() == [3.0]
    assert search_cadres(ds.cadres, "张")[C.CADRE_ID].tolist() == ["A001"]


def test_records_keyed_by_id_card_find_a_roster_with_its_own_ids(tmp_path: Path) -> None:
    first = gen.fake_id(random.Random(1), female=True)
    courses = _csv(
        tmp_path / "courses.csv", "课程编号,课程名称,课程类别,学时\nK1,预算管理,经济金融,90分钟\n"
    )
    cadres = _csv(tmp_path / "cadres.csv", f"干部编号,姓名,身份证号\nG9,李四,{first}\n")
    records = _csv(
        tmp_path / "records.csv", f"身份证号,课程编号,完成时间\n{first},K1,2026年3月1日\n", "gbk"
    )
    ds = load_dataset(
        files={"courses": courses, "cadres": cadres, "completions": records},
        write_rejects=False,
        id_secret=TEST_ID_SECRET,
    )
    row = ds.cadres.iloc[0]
    assert row[C.CADRE_ID] == "G9" and row[C.ID_MASKED] == mask_id_card(first)
    assert row[C.ID_HASH] == hash_id_card(first, TEST_ID_SECRET) and row[C.GENDER] == "女"
    assert ds.completions[C.CADRE_ID].tolist() == ["G9"]
    assert find_cadre(ds.cadres, first, TEST_ID_SECRET) == "G9"
    assert ds.courses[C.CREDIT_HOURS].tolist() == [2.0]


def test_hour_words_follow_the_rules_file(tmp_path: Path, monkeypatch) -> None:
    from recommender.data.rules import rules_path

    text = rules_path().read_text(encoding="utf-8")
    text = text.replace("half_day = 3.0", "half_day = 4.0").replace(
        "minutes_per_hour = 45.0", "minutes_per_hour = 60.0"
    )
    rules = _csv(tmp_path / "rules.toml", text)
    monkeypatch.setenv("XUANXUE_RULES", str(rules))
    courses = _csv(
        tmp_path / "courses.csv",
        "课程编号,课程名称,课程类别,学时\nK1,a,b,半天\nK2,c,d,90分钟\nK3,e,f,一天\nK4,g,h,半天（2学时）\n",
    )
    from recommender.data.loading import load_table
    from recommender.data.schema import COURSES

    assert load_table(courses, COURSES).frame[C.CREDIT_HOURS].tolist() == [4.0, 1.5, 6.0, 2.0]


def test_a_rejected_course_does_not_take_its_records_silently(tmp_path: Path) -> None:
    courses = _csv(
        tmp_path / "courses.csv", "课程编号,课程名称,课程类别,学时\nK1,a,b,待定\nK2,c,d,一天\n"
    )
    cadres = _csv(tmp_path / "cadres.csv", "工号,姓名\nA1,张三\nA2,李四\n")
    records = _csv(
        tmp_path / "records.csv",
        "工号,课程编号,完成时间\nA1,K1,2026-03-01\nA2,K1,2026-03-02\nA1,K2,2026-03-03\n",
    )
    ds = load_dataset(
        files={"courses": courses, "cadres": cadres, "completions": records}, write_rejects=False
    )
    assert ds.completions[C.COURSE_ID].tolist() == ["K2"] and ds.external.empty
    said = [w for w in ds.warnings if "'K1'" in w]
    assert len(said) == 1 and "其 2 条学习记录随之拒收" in said[0] and "第 2 行" in said[0]
