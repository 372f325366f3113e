"""Course pages: courses similar to one course."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import CourseId, KQuery, ModelDep, SettingsDep, check_k
from service.openapi import error_responses
from service.schemas import SimilarCourses

router = APIRouter(prefix="/v1", tags=["courses"])


@router.get(
    "/courses/{course_id}/similar",
    response_model=SimilarCourses,
    responses=error_responses(404, 503, notes={404: "模型不认识的课程（`unknown_course`）"}),
)
def similar_courses(
    course_id: CourseId,
    loaded: ModelDep,
    settings: SettingsDep,
    k: KQuery = 10,
) -> dict:
    """Courses with similar content or often taken together with this one."""
    check_k(k, settings)
    items = loaded.model.similar(course_id, k)  # unknown id: 404 (service.errors)
    return {
        "model_version": loaded.version,
        "course_id": course_id,
        "count": len(items),
        "items": [r.to_dict() for r in items],
    }
