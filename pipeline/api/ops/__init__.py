"""The ops dashboard (/ops) and Prometheus metrics (/metrics) of the API process.

`router` carries both; the app factory includes it like any route module. Modules: the
figures in SQL (`queries`), what pages show (`views`, `pages`), SVG charts (`charts`), the
broker's queues and workers (`broker`), sign-in and CSRF (`session`), the routes (`routes`,
`prometheus`). Templates and the small CSS and script live in templates/ops/.
"""

from fastapi import APIRouter

from pipeline.api.ops import prometheus, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(prometheus.router)

__all__ = ["router"]
