"""POST routes: operator actions, each the same operation the CLI command runs, with
``api`` recorded as who asked. The guard has checked the bearer token already."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, HTTPException
from fastapi import Path as ApiPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zepix_core.api.context import ACTOR, Context, document
from zepix_core.api.errors import ERRORS
from zepix_core.api.reads import breaker, operator
from zepix_core.contract.errors import ZepixError
from zepix_core.host.facade import of
from zepix_core.storage.configchanges import RELOAD
from zepix_core.supervision import controls
from zepix_core.versions.policy import Recorded

#: Seconds persist-now waits for a round in progress to finish.
ROUND_WAIT = 30.0


class Pause(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = ""


class Silence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin_id: str
    kind: str | None = None
    minutes: float = Field(gt=0, le=controls.MAX_SILENCE_MINUTES)
    reason: str = Field(min_length=1, pattern=r"\S")


class Upgrade(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    force: bool = False


def recorded(done: Recorded) -> JSONResponse:
    """As ``zepix upgrade --json``: what was recorded; the host applies it within a round."""
    return document({**done.as_dict(), "outcome": None, "applied": False,
                     "host_pid": os.getpid()})


def actions(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=ERRORS)

    @api.post("/breakers/{plugin_id}/reset", summary="close a circuit breaker")
    def reset_breaker(plugin_id: str) -> JSONResponse:
        if plugin_id not in ctx.host.slots:
            raise HTTPException(404, f"no plugin '{plugin_id}' in this host")
        of(ctx.host).reset_breaker(plugin_id, ACTOR)
        return document(breaker(ctx, plugin_id))

    @api.post("/breakers/{plugin_id}/open", summary="force a circuit breaker open until reset")
    def open_breaker(plugin_id: str) -> JSONResponse:
        if plugin_id not in ctx.host.slots:
            raise HTTPException(404, f"no plugin '{plugin_id}' in this host")
        of(ctx.host).open_breaker(plugin_id, ACTOR)
        return document(breaker(ctx, plugin_id))

    def paused(changed: list[str], key: str) -> JSONResponse:
        pauses = ctx.host.refresh_pauses()
        return document({key: changed, "paused": sorted(pauses),
                         "reasons": {pid: row["reason"] for pid, row in pauses.items()}})

    @api.post("/plugins/{plugin_id}/pause", summary="as zepix pause ID: no bars, no intents")
    def pause_one(plugin_id: str, body: Pause | None = None) -> JSONResponse:
        ctx.require(plugin_id)
        return paused(controls.pause(ctx.store, plugin_id, (body or Pause()).reason, ACTOR,
                                     time.time(), extra=ctx.host.slots), "changed")

    @api.post("/pause", summary="as zepix pause --all")
    def pause_all(body: Pause | None = None) -> JSONResponse:
        return paused(controls.pause(ctx.store, None, (body or Pause()).reason, ACTOR,
                                     time.time(), every=True, extra=ctx.host.slots), "changed")

    @api.post("/plugins/{plugin_id}/resume", summary="as zepix resume ID")
    def resume_one(plugin_id: str) -> JSONResponse:
        ctx.require(plugin_id)
        return paused(controls.resume(ctx.store, plugin_id, ACTOR, time.time(),
                                      extra=ctx.host.slots), "changed")

    @api.post("/resume", summary="as zepix resume --all")
    def resume_all() -> JSONResponse:
        return paused(controls.resume(ctx.store, None, ACTOR, time.time(), every=True),
                      "changed")

    @api.post("/retries/reset", summary="clear retry statistics")
    def reset_retries() -> JSONResponse:
        return document({"reset": True, "operations": ctx.store.reset_retry_stats()})

    @api.post("/snapshots", summary="persist a snapshot of every plugin now")
    def persist() -> JSONResponse:
        return persist_now(ctx)

    @api.post("/plugins/{plugin_id}/restart", summary="as zepix restart ID")
    def restart(plugin_id: str) -> JSONResponse:
        ctx.require(plugin_id)
        request_id = ctx.store.add_request(plugin_id, "restart", ACTOR, time.time())
        return document({**(ctx.store.request(request_id) or {}), "host_pid": os.getpid()})

    @api.post("/plugins/{plugin_id}/upgrade", summary="as zepix upgrade ID VERSION")
    def upgrade(plugin_id: str, body: Upgrade) -> JSONResponse:
        ctx.require(plugin_id)
        try:
            return recorded(operator(ctx).upgrade(plugin_id, body.version, body.force))
        except ZepixError as exc:
            raise HTTPException(409, str(exc)) from None

    @api.post("/plugins/{plugin_id}/rollback", summary="as zepix rollback ID")
    def rollback(plugin_id: str) -> JSONResponse:
        ctx.require(plugin_id)
        try:
            return recorded(operator(ctx).rollback(plugin_id))
        except ZepixError as exc:
            raise HTTPException(409, str(exc)) from None

    @api.post("/config/reload", summary="as zepix config reload")
    def reload_config() -> JSONResponse:
        request_id = ctx.store.add_request("*", RELOAD, ACTOR, time.time())
        return document({**(ctx.store.request(request_id) or {}), "host_pid": os.getpid()})

    @api.post("/sync", summary="as zepix sync --now: start a sync of every plugin database")
    def sync() -> JSONResponse:
        if not of(ctx.host).sync_now(ACTOR):
            raise HTTPException(409, "a sync is running already; see "
                                "zepix sync status")
        return document({"started": True, "trigger": ACTOR})

    @api.post("/silences", summary="as zepix alerts silence PLUGIN[:KIND] --for M --reason T")
    def add_silence(body: Silence) -> JSONResponse:
        target = body.plugin_id + (f":{body.kind}" if body.kind else "")
        if body.plugin_id not in ("*", "zepix"):
            ctx.require(body.plugin_id)
        try:
            return document(controls.silence(ctx.store, target, body.minutes, body.reason,
                                             ACTOR, time.time(), extra=ctx.host.slots))
        except ZepixError as exc:
            raise HTTPException(422, str(exc)) from None

    @api.get("/silences", summary="active silences, newest first (zepix alerts silences)")
    def list_silences() -> JSONResponse:
        return document(ctx.store.silences(time.time()))

    @api.delete("/silences/{silence_id}", summary="as zepix alerts unsilence ID")
    def remove_silence(silence_id: int = ApiPath(ge=1, le=2**62)) -> JSONResponse:
        try:
            return document({**controls.unsilence(ctx.store, silence_id, ACTOR, time.time()),
                             "removed": True})
        except ZepixError as exc:
            raise HTTPException(404, str(exc)) from None

    @api.post("/alerts/test", summary="as zepix alerts test: which sinks delivered")
    def alerts_test() -> JSONResponse:
        results = of(ctx.host).test_alerts(ACTOR)
        return document({"delivered": all(r["delivered"] for r in results), "sinks": results})

    return api


def persist_now(ctx: Context) -> JSONResponse:
    """A snapshot of every plugin, persisted now between two rounds (409 while a round
    runs on past ``ROUND_WAIT``): ``POST /api/v1/snapshots`` and its seed alias."""
    busy = of(ctx.host).loop_lock()
    if not busy.acquire(timeout=ROUND_WAIT):
        raise HTTPException(409, f"a round is still running after {ROUND_WAIT:g}s; try again")
    try:
        return document(of(ctx.host).persist_now())
    finally:
        busy.release()
