"""That the desk answers (a monitor, a proxy, the tests wait for it): no login, no database."""

from fastapi.responses import Response

from alerts.review.deps import desk_router

router = desk_router()


@router.get("/healthz")
def healthz() -> Response:
    return Response("ok", media_type="text/plain")
