"""GET routes: the same documents as the CLI's ``--json``, from the host and its database."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from zepix_core.api.context import ACTOR, Context, document
from zepix_core.api.errors import ERRORS
from zepix_core.api.guard import ADMIN, ROLE_KEY
from zepix_core.contract.api import API_VERSION
from zepix_core.host.facade import of
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.loading.paths import store_dir
from zepix_core.retry import policies_from_config, retry_report
from zepix_core.versions.policy import VersionCommands
from zepix_core.versions.store import PluginStore
from zepix_core.views.records import alert_rows, history_rows, plugin_rows, timeline
from zepix_core.views.series import MAX_HOURS, incidents, series

Hours = Query(24.0, ge=1, le=MAX_HOURS, description="how far back, 1 to 168 hours")
Limit = Query(200, ge=1, le=10_000)


def operator(ctx: Context) -> VersionCommands:
    """The version operator ``zepix upgrade`` uses, recording ``api`` as who asked."""
    return VersionCommands(ctx.store, PluginStore(store_dir()), ctx.host.config, enumerate_plugins(),
                    API_VERSION, actor=ACTOR)


def breaker(ctx: Context, plugin_id: str) -> dict[str, object]:
    fields = of(ctx.host).breaker_fields(plugin_id)
    return {"plugin_id": plugin_id, "state": fields["breaker"],
            **(fields["breaker_detail"] or {})}


def reads(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=ERRORS)

    @api.get("/plugins", summary="as zepix plugins --json")
    def plugins() -> JSONResponse:
        host = ctx.host
        running = {s.plugin_id for s in host.active()}
        rows = plugin_rows(list(host.slots.values()), ctx.store.statuses(), running,
                           pauses=ctx.store.pauses())
        # Restarts in the history: the host's own and the operators'.
        automatic, asked = (ctx.store.event_counts(k) for k in ("restart", "operator_restart"))
        now = time.time()
        for row in rows:  # the trading desk's figures (the dashboard)
            row["restarts"] = automatic.get(row["id"], 0) + asked.get(row["id"], 0)
            row["desk"] = of(host).risk_desk(row["id"], now)
        return document(rows)

    @api.get("/session", summary="whose token this request carries: admin, viewer or none")
    def session(request: Request) -> JSONResponse:
        role = getattr(request.state, ROLE_KEY, None)
        return document({"role": role, "can_change": role == ADMIN,
                         "reads_need_token": ctx.settings.reads_need_token
                         or not ctx.settings.loopback})

    @api.get("/status", summary="as zepix status --json: the host at a glance")
    def status() -> JSONResponse:
        from zepix_core.views.status import host_status

        doc = host_status(ctx.store, time.time(), ctx.period, ctx.host.config.sync().url)
        doc["reach"] = ctx.reach.report(ctx.host.config)  # Telegram and Alertmanager, checked
        return document(doc)

    @api.get("/health", summary="latest snapshot per plugin (zepix health --json)")
    def health() -> JSONResponse:
        return document(ctx.store.latest_snapshots())

    @api.get("/health/unhealthy", summary="latest snapshots not HEALTHY")
    def unhealthy() -> JSONResponse:
        return document([s for s in ctx.store.latest_snapshots() if s["status"] != "HEALTHY"])

    @api.get("/health/{plugin_id}", summary="one plugin's latest snapshot")
    def one(plugin_id: str) -> JSONResponse:
        snap = ctx.store.latest_snapshot(plugin_id)
        if snap is None:
            ctx.require(plugin_id)
            raise HTTPException(404, f"no snapshot of '{plugin_id}' yet; it is not active "
                                "or its first round has not run")
        return document(snap)

    @api.get("/health/{plugin_id}/history",
             summary="snapshots over time (zepix health ID --hours H --json)")
    def history_of(plugin_id: str, hours: float = Hours) -> JSONResponse:
        ctx.require(plugin_id)
        return document(series(ctx.store, plugin_id, hours, time.time()))

    @api.get("/incidents", summary="periods of non-HEALTHY status (zepix health --incidents)")
    def incident_list(hours: float = Hours) -> JSONResponse:
        return document(incidents(ctx.store, hours, time.time()))

    @api.get("/alerts", summary="recent alerts, newest first (zepix alerts --json)")
    def alerts(plugin_id: str | None = None, unresolved: bool = False,
               limit: int = Query(100, ge=1, le=10_000)) -> JSONResponse:
        return document(alert_rows(ctx.store, plugin_id, unresolved, limit))

    @api.get("/history", summary="activation history (zepix history --json)")
    def history(plugin_id: str | None = None, events: bool = False,
                limit: int = Limit) -> JSONResponse:
        if events:
            return document(timeline(ctx.store, plugin_id, limit))
        return document(history_rows(ctx.store, plugin_id, limit))

    @api.get("/versions/{plugin_id}", summary="every known version (zepix versions ID)")
    def versions(plugin_id: str) -> JSONResponse:
        from zepix_core.views.versions import version_listing

        rows = version_listing(operator(ctx), plugin_id)
        if not rows:
            raise HTTPException(404, f"no version of '{plugin_id}' is installed or recorded")
        return document(rows)

    @api.get("/breakers", summary="circuit breaker of every plugin")
    def breakers() -> JSONResponse:
        return document([breaker(ctx, pid) for pid in sorted(ctx.host.slots)])

    @api.get("/breakers/{plugin_id}", summary="one plugin's circuit breaker")
    def one_breaker(plugin_id: str) -> JSONResponse:
        if plugin_id not in ctx.host.slots:
            raise HTTPException(404, f"no plugin '{plugin_id}' in this host")
        return document(breaker(ctx, plugin_id))

    @api.get("/retries", summary="retry statistics per operation (zepix retries --json)")
    def retries() -> JSONResponse:
        policies = policies_from_config(ctx.host.config.sections.get("retry", {}))
        return document(retry_report(ctx.store, policies))

    @api.get("/config", summary="the config in force, defaults in, secrets hidden, with "
                                "file_valid and last_reload (zepix config show --running --json)")
    def config() -> JSONResponse:
        return JSONResponse(of(ctx.host).config_in_force())

    return api
