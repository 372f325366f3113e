"""Chinese text pipeline: normalisation, domain dictionary, stopwords, tokenizer contract.

Sentences marked "Hubei" are real job_description strings from the 2026 Hubei civil-service
position table (copied here so the tests do not depend on the shared data directory).
"""

from __future__ import annotations

import copy
import math
import pickle
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.data.schema import CATEGORIES
from recommender.text.tokenizer import (
    SINGLE_CHAR_KEEP,
    ChineseTokenizer,
    domain_terms,
    normalize_text,
    stopwords,
)

# Terms the design names explicitly; each must be in the dictionary and cut whole.
REQUIRED_TERMS = (
    "乡村振兴",
    "基层治理",
    "党风廉政",
    "应急管理",
    "大学生村官",
    "选调生",
    "公文写作",
    "依法行政",
    "营商环境",
    "党史学习教育",
    "全面从严治党",
    "中央八项规定",
    "意识形态",
    "共同富裕",
    "高质量发展",
    "新发展理念",
    "数字政府",
    "数字经济",
    "网络安全",
    "数据安全",
    "人工智能",
    "安全生产",
    "防汛抗旱",
    "森林防火",
    "危险化学品",
    "突发事件",
    "舆情应对",
    "信访维稳",
    "矛盾纠纷化解",
    "枫桥经验",
    "网格化管理",
    "社会保险",
    "劳动人事争议仲裁",
    "行政复议",
    "行政执法",
    "综合执法",
    "市场监管",
    "生态环境保护",
    "河长制",
    "耕地保护",
    "高标准农田",
    "农村人居环境",
    "集体经济",
    "防止返贫",
    "政府采购",
    "预算绩效管理",
    "财务会计",
    "审计监督",
    "统计调查",
    "招商引资",
    "优化营商环境",
    "领导力",
    "执行力",
    "调查研究",
    "群众工作",
    "心理调适",
    "压力管理",
    "公务礼仪",
    "政务礼仪",
    "保密工作",
    "档案管理",
)

GOLDEN = [
    # Hubei
    (
        "从事劳动人事争议仲裁、就业服务、社会保险基金管理等工作。",
        ["劳动人事争议仲裁", "就业服务", "社会保险基金", "管理"],
    ),
    ("从事应急管理、信访维稳、平安建设等工作。", ["应急管理", "信访维稳", "平安建设"]),
    ("从事依法行政、法制宣传教育等工作。", ["依法行政", "法制宣传", "教育"]),
    (
        "从事公文写作、新闻宣传、会议组织、综合协调等工作。",
        ["公文写作", "新闻宣传", "会议组织", "综合协调"],
    ),
    ("从事机关党风廉政建设、纪检监察等工作。", ["机关", "党风廉政", "建设", "纪检监察"]),
    (
        "从事基层司法所人民调解、安置帮教、社区矫正、法治建设等工作。",
        ["基层", "司法", "人民调解", "安置帮教", "社区矫正", "法治建设"],
    ),
    (
        "从事行政执法监督检查、法治宣传等工作。",
        ["行政执法", "监督检查", "法治宣传"],
    ),
    # course blurbs
    (
        "本课程围绕优化营商环境，帮助学员掌握大学生村官、选调生的群众工作方法。",
        ["优化营商环境", "大学生村官", "选调生", "群众工作", "方法"],
    ),
    ("本课程通过案例讲解乡村振兴与基层治理", ["案例", "乡村振兴", "基层治理"]),
]

# Hubei: a domain term must survive whole inside each of these.
REAL_PROFILES = [
    ("从事农村经营管理、财务审计、乡村振兴、农村小型工程项目管理等工作。", "乡村振兴"),
    ("从事基层治理政策研究、组织协调、综合文字等工作。", "基层治理"),
    ("从事法律文书起草、法律服务、应急矛盾纠纷化解、法律咨询服务等工作。", "矛盾纠纷化解"),
    ("从事防汛抗旱、森林防火、地震地灾应急救援、防灾减灾和安全生产等工作。", "森林防火"),
    ("从事危险化学品领域安全生产综合行政执法等工作。", "危险化学品"),
    ("从事行政执法监督、行政复议、法治宣传、公共法律服务等工作。", "公共法律服务"),
    ("从事招商引资、供应链建设等工作。", "招商引资"),
    ("从事农村人居环境整治、美丽乡村建设、农业品牌设计等工作。", "农村人居环境"),
    ("从事食品安全监管及查处违法违规行为等工作。", "食品安全"),
]


@pytest.fixture(scope="module")
def tok() -> ChineseTokenizer:
    return ChineseTokenizer()


# --- normalisation -------------------------------------------------------------------------


def test_normalize_traditional_fullwidth_case_and_spaces() -> None:
    assert normalize_text("幹部　學習  ＡＩ與５Ｇ\t\nＧＤＰ") == "干部 学习 ai与5g gdp"


@pytest.mark.parametrize("missing", [None, float("nan"), "", "   \u200b "])
def test_normalize_missing_is_empty(missing: object) -> None:
    assert normalize_text(missing) == ""


# --- dictionary and stopwords --------------------------------------------------------------


def test_dictionary_is_large_and_has_no_duplicates() -> None:
    terms = domain_terms()
    assert len(terms) >= 400
    assert len(terms) == len(set(terms))


def test_dictionary_holds_required_terms_and_categories() -> None:
    missing = set(REQUIRED_TERMS) - set(domain_terms())
    assert not missing
    assert {c for c in CATEGORIES if c not in domain_terms()} == set()


def test_dictionary_terms_are_already_normalised() -> None:
    assert [t for t in domain_terms() if normalize_text(t) != t] == []


def test_every_dictionary_term_cuts_to_itself(tok: ChineseTokenizer) -> None:
    broken = {t: tok(t) for t in domain_terms() if tok(t) != [t]}
    assert broken == {}


def test_stopwords_never_hide_a_domain_term() -> None:
    assert stopwords() & set(domain_terms()) == set()
    boilerplate = {"的", "和", "等", "从事", "工作", "负责", "开展", "课程", "本课程", "学员"}
    assert boilerplate <= stopwords()


# --- tokenizer behaviour -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), GOLDEN)
def test_golden_tokens(tok: ChineseTokenizer, text: str, expected: list[str]) -> None:
    assert tok(text) == expected


@pytest.mark.parametrize(("text", "term"), REAL_PROFILES)
def test_domain_terms_stay_whole_in_real_profiles(
    tok: ChineseTokenizer, text: str, term: str
) -> None:
    assert term in tok(text)


def test_traditional_input_gives_simplified_tokens(tok: ChineseTokenizer) -> None:
    trad = tok("幹部參加鄉村振興與應急管理培訓，學習黨風廉政")
    simp = tok("干部参加乡村振兴与应急管理培训，学习党风廉政")
    assert trad == simp
    assert {"干部", "乡村振兴", "应急管理", "党风廉政"} <= set(trad)


def test_fullwidth_latin_and_numbers_are_kept(tok: ChineseTokenizer) -> None:
    tokens = tok("（ＡＩ、５Ｇ、ＧＤＰ）赋能数字政府，ChatGPT 与 2025 年")
    assert {"ai", "5g", "gdp", "chatgpt", "2025", "数字政府"} <= set(tokens)


def test_stopwords_punctuation_and_noise_removed(tok: ChineseTokenizer) -> None:
    tokens = tok("本课程围绕相关工作，负责开展、进行以及……等！！")
    assert tokens == []


def test_single_characters_follow_the_allow_list(tok: ChineseTokenizer) -> None:
    tokens = tok("坚持党管干部，以税兴镇，岗")
    assert tokens == ["坚持", "党", "干部", "税", "镇"]  # 管, 以, 兴 and 岗 are noise
    assert all(len(t) > 1 or t in SINGLE_CHAR_KEEP or t.isascii() for t in tokens)


@pytest.mark.parametrize("empty", [None, "", "  ", float("nan"), "，。、！"])
def test_empty_input_gives_no_tokens(tok: ChineseTokenizer, empty: object) -> None:
    assert tok(empty) == []


def test_emoji_and_symbols_do_not_crash(tok: ChineseTokenizer) -> None:
    assert tok("👍🏻乡村振兴🚀 👨‍👩‍👧 ★☆ ©") == ["乡村振兴"]


def test_stopwords_can_be_kept() -> None:
    raw = ChineseTokenizer(use_stopwords=False)
    assert "工作" in raw("从事信访维稳等工作")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_tokens_are_clean_for_any_text(tok: ChineseTokenizer, text: str) -> None:
    tokens = tok(text)
    stop = stopwords()
    for t in tokens:
        assert t and t == t.strip() and " " not in t
        assert t not in stop
    assert normalize_text(normalize_text(text)) == normalize_text(text)


# --- pickling, isolation, threads ----------------------------------------------------------


def test_pickle_round_trip_rebuilds_jieba_lazily(tok: ChineseTokenizer) -> None:
    text = "从事应急管理、信访维稳、平安建设等工作。"
    before = tok(text)
    clone = pickle.loads(pickle.dumps(tok))
    assert clone._jieba is None
    assert copy.deepcopy(tok)._jieba is None
    assert clone(text) == before
    assert clone._jieba is not None and clone._jieba is not tok._jieba


def test_user_terms_are_private_to_their_tokenizer() -> None:
    import jieba

    dt_was_initialised = jieba.dt.initialized
    text = "推进红安将军县研学路线建设"
    a = ChineseTokenizer(user_terms=["红安将军县", "研学路线"])
    b = ChineseTokenizer(user_terms=["將軍縣研學"])  # traditional: normalised before adding
    assert {"红安将军县", "研学路线"} <= set(a(text))
    b_tokens = b(text)
    assert "将军县研学" in b_tokens and "红安将军县" not in b_tokens
    assert "将军县研学" not in a(text)
    assert jieba.dt.initialized == dt_was_initialised
    assert "红安将军县" not in jieba.dt.FREQ and "将军县研学" not in jieba.dt.FREQ


def test_invalid_user_term_is_refused() -> None:
    with pytest.raises(ValueError, match="whitespace"):
        ChineseTokenizer(user_terms=["乡村 振兴"])


def test_concurrent_first_calls_build_once(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    original = ChineseTokenizer._build

    def counting_build(self: ChineseTokenizer):  # type: ignore[no-untyped-def]
        builds.append(1)
        return original(self)

    monkeypatch.setattr(ChineseTokenizer, "_build", counting_build)
    shared = ChineseTokenizer(user_terms=["线程测试词"])
    text = "从事线程测试词与基层治理等工作"
    results: list[list[str]] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        results.append(shared(text))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == [1]
    assert results == [["线程测试词", "基层治理"]] * 6


def test_nan_float_is_not_tokenised_as_text(tok: ChineseTokenizer) -> None:
    assert tok(math.nan) == [] and tok(float("inf")) == ["inf"]
