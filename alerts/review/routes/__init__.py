"""The review desk's routes, one router per part of the desk (each made by deps.desk_router, so each route
refuses NUL characters first); create_app serves them all. What every route checks first (session, CSRF token,
role, site) is in alerts/review/deps.py, as dependencies."""

from fastapi.routing import BaseRoute

from alerts.review.routes import ack, alert, health, live, queue, reports, session

ROUTERS = (session.router, queue.router, alert.router, ack.router, live.router, reports.router, health.router)
ROUTES: tuple[BaseRoute, ...] = tuple(route for router in ROUTERS for route in router.routes)

__all__ = ["ROUTERS", "ROUTES"]
