"""Request examples shown in the OpenAPI document (Swagger's "Try it out" starts from them).

Each one succeeds against the shipped sample model (``data/sample``, ``make run``): the ids
are sample cadres and courses, and Chinese enum spellings are used where the loader accepts
them (乡镇, 视频, 自主选学), as a portal would send them. ``tests/test_openapi.py`` sends every
example and expects a 2xx.
"""

from __future__ import annotations

from typing import Any

Examples = dict[str, dict[str, Any]]


def _one(name: str, summary: str, value: Any) -> Examples:
    return {name: {"summary": summary, "value": value}}


CADRE_ID: Examples = _one("sample_cadre", "样例干部 G000002（县级财政系统，正科）", "G000002")
COURSE_ID: Examples = _one(
    "sample_course", "样例课程 C00052（新形势下社区减负的若干问题）", "C00052"
)
K: Examples = _one("ten", "10 门", 10)
CATEGORY: Examples = _one("categories", "只要乡村振兴、基层治理类", ["乡村振兴", "基层治理"])
FORMAT: Examples = _one("formats", "只要视频和微课（中文或英文均可）", ["视频", "micro"])

PROFILE: Examples = {
    **_one(
        "new_township_cadre",
        "新任乡镇干部（冷启动）",
        {
            "job_title": "乡镇党委副书记",
            "job_description": "负责基层党建、乡村振兴和安全生产工作",
            "declared_needs": "希望提升应急处置和群众工作能力",
            "unit_level": "乡镇",
            "system": "乡镇综合",
            "rank": "一级主任科员",
            "newly_promoted": True,
            "completed": ["C00052"],
            "k": 10,
        },
    ),
    **_one(
        "county_finance_video",
        "县直财政干部，只看视频和微课",
        {
            "job_title": "财务会计岗",
            "job_description": "从事会计核算、财务管理、经济分析等工作",
            "unit_level": "县直",
            "system": "财政",
            "rank": "正科",
            "category": ["经济金融", "政策法规"],
            "format": ["视频", "微课"],
            "k": 5,
        },
    ),
}

MENU: Examples = {
    **_one("defaults", "全部按干部档案和培训规定（空请求体）", {}),
    **_one(
        "constraints",
        "自定约束：已得学时、每周时间、时段、形式、类别比例",
        {
            "hours_credited": 12,
            "weekly_hours_budget": 4,
            "windows": ["weekday_evening", "weekend"],
            "formats": ["视频", "微课", "直播", "图文"],
            "category_minimums": {"政治理论": 0.2, "党性教育": 0.1},
            "max_per_topic": 2,
        },
    ),
}

_EVENT = {
    "event_id": "portal-20250301-001",
    "cadre_id": "G000002",
    "course_id": "C00052",
    "enrolled_at": "2025-03-01T09:00:00+08:00",
    "completed_at": "2025-03-05T18:30:00+08:00",
    "progress": 1.0,
    "credit_hours_awarded": 1.5,
    "rating": 5,
    "source": "recommended",
}
COMPLETIONS: Examples = {
    **_one("one_event", "一条学习记录", _EVENT),
    **_one(
        "batch",
        "一批学习记录（最多 1000 条；重发同一 event_id 不会重复保存）",
        [
            _EVENT,
            {
                "event_id": "portal-20250310-002",
                "cadre_id": "G000002",
                "course_id": "C00010",
                "enrolled_at": "2025-03-10T20:00:00+08:00",
                "progress": 0.4,
                "source": "自主选学",
            },
        ],
    ),
}

RELOAD: Examples = {
    **_one("current", "加载 models/current 指向的版本", {}),
    **_one("force", "即使已在服务也重新加载", {"force": True}),
}
