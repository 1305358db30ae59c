"""The seeds' ``/admin/system/...`` paths, as aliases of the ``/api/v1`` routes (the same
documents, the same token rules), so the seeds' own curl lines work. The two summaries
add counts per status. Kept out of /openapi.json: ``/api/v1`` is the documented API."""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from zepix_core.api.actions import persist_now as persist_snapshots
from zepix_core.api.context import ACTOR, Context, document
from zepix_core.api.reads import Hours, breaker
from zepix_core.host.facade import of
from zepix_core.retry import policies_from_config, retry_report
from zepix_core.views.series import incidents, series


def admin(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/admin/system", include_in_schema=False)

    @api.get("/bot-health/summary")
    def summary() -> JSONResponse:
        snaps = ctx.store.latest_snapshots()
        counts = Counter(str(s["status"]) for s in snaps)
        now = time.time()
        day, week = ctx.store.availability(now - 86_400), ctx.store.availability(now - 604_800)
        return document({"total": len(snaps), "counts": dict(sorted(counts.items())),
                         "availability": {pid: {"24h": day.get(pid), "7d": week.get(pid)}
                                          for pid in sorted(week)},
                         "unhealthy": sorted(str(s["plugin_id"]) for s in snaps
                                             if s["status"] != "HEALTHY"),
                         "plugins": snaps})

    @api.get("/bot-health/unhealthy")
    def unhealthy() -> JSONResponse:
        return document([s for s in ctx.store.latest_snapshots() if s["status"] != "HEALTHY"])

    @api.get("/bot-health/unhealthy-history")
    def unhealthy_history(hours: float = Hours) -> JSONResponse:
        return document(incidents(ctx.store, hours, time.time()))

    @api.get("/bot-health/history/{plugin_id}")
    def history(plugin_id: str, hours: float = Hours) -> JSONResponse:
        ctx.require(plugin_id)
        return document(series(ctx.store, plugin_id, hours, time.time()))

    @api.post("/bot-health/persist-now")
    def persist_now() -> JSONResponse:
        return persist_snapshots(ctx)

    @api.get("/bot-health/{plugin_id}")
    def one(plugin_id: str) -> JSONResponse:
        snap = ctx.store.latest_snapshot(plugin_id)
        if snap is None:
            ctx.require(plugin_id)
            raise HTTPException(404, f"no snapshot of '{plugin_id}' yet")
        return document(snap)

    @api.get("/circuit-breakers/summary")
    def breakers() -> JSONResponse:
        rows = [breaker(ctx, pid) for pid in sorted(ctx.host.slots)]
        counts = Counter(str(r["state"]) for r in rows)
        return document({"total": len(rows), "counts": dict(sorted(counts.items())),
                         "open": [r["plugin_id"] for r in rows if r["state"] != "CLOSED"],
                         "breakers": rows})

    @api.get("/circuit-breakers/{plugin_id}")
    def one_breaker(plugin_id: str) -> JSONResponse:
        if plugin_id not in ctx.host.slots:
            raise HTTPException(404, f"no plugin '{plugin_id}' in this host")
        return document(breaker(ctx, plugin_id))

    @api.post("/circuit-breakers/{plugin_id}/reset")
    def reset(plugin_id: str) -> JSONResponse:
        if plugin_id not in ctx.host.slots:
            raise HTTPException(404, f"no plugin '{plugin_id}' in this host")
        of(ctx.host).reset_breaker(plugin_id, ACTOR)
        return document(breaker(ctx, plugin_id))

    @api.get("/retry-statistics")
    def retries() -> JSONResponse:
        policies = policies_from_config(ctx.host.config.sections.get("retry", {}))
        return document(retry_report(ctx.store, policies))

    @api.post("/retry-statistics/reset")
    def reset_retries() -> JSONResponse:
        return document({"reset": True, "operations": ctx.store.reset_retry_stats()})

    return api
