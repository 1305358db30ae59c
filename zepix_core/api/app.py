"""The app factory: routes over one host, behind the token and body-size guard."""

from __future__ import annotations

import time
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp as App

from zepix_core.api import errors
from zepix_core.api.actions import actions
from zepix_core.api.admin import admin
from zepix_core.api.context import Context
from zepix_core.api.guard import RequestGuard
from zepix_core.api.metrics import registry
from zepix_core.api.reads import reads
from zepix_core.contract.api import API_VERSION
from zepix_core.host.facade import of

#: Rounds that may be missed before /healthz says the host stopped running them.
LATE_ROUNDS = 3


def page(name: str) -> str:
    return resources.files("zepix_core.api").joinpath("static", name).read_text("utf-8")


def build_app(ctx: Context) -> App:
    """The ASGI app for ``ctx``: FastAPI routes wrapped in the guard."""
    app = FastAPI(title="Zepix host API", version=API_VERSION, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json")
    errors.install(app)
    app.include_router(reads(ctx))
    app.include_router(actions(ctx))
    app.include_router(admin(ctx))
    metrics = registry(ctx.host, ctx.store)
    dashboard, docs = page("dashboard.html"), page("docs.html")

    @app.get("/healthz", summary="200 while the host runs its rounds",
             responses={503: {"model": errors.Error, "description": "no recent round"}})
    def healthz() -> JSONResponse:
        last = of(ctx.host).last_round()
        if last is None:
            return JSONResponse({"error": "no monitoring round yet"}, status_code=503)
        age = time.time() - last[0]
        limit = LATE_ROUNDS * ctx.period + 10
        if age > limit:
            return JSONResponse({"error": f"last round ended {age:.0f}s ago"}, status_code=503)
        return JSONResponse({"status": "ok", "rounds": of(ctx.host).rounds(),
                             "last_round_age_s": round(age, 3)})

    @app.get("/metrics", summary="Prometheus text exposition", response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}},
                              "description": "series named zepix_* and process_*"}})
    def prometheus() -> Response:
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    # HEAD answers as GET does, without a body (uptime checkers probe with it).
    app.add_api_route("/metrics", prometheus, methods=["HEAD"], include_in_schema=False)

    @app.get("/", summary="the dashboard", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(dashboard)

    @app.get("/docs", summary="the API reference, rendered from /openapi.json",
             response_class=HTMLResponse)
    def reference() -> HTMLResponse:
        return HTMLResponse(docs)

    settings = ctx.settings
    gated = settings.reads_need_token or not settings.loopback  # forced off loopback
    return RequestGuard(app, settings.token, reads_need_token=gated,
                 max_body=settings.max_body, viewer_token=settings.viewer_token,
                 hosts=frozenset({settings.host.lower(), *settings.allowed_hosts}))
