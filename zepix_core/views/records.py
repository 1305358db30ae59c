"""Plugins, alerts, activation history and the event timeline as documents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from zepix_core.contract.model import PluginState
from zepix_core.contract.redact import redact_text
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.storage import PauseRow, Row, StatusRow, Store


def plugin_row(slot: PluginSlot) -> dict[str, object]:
    meta = slot.meta.as_dict() if slot.meta else {}
    return {
        "id": slot.plugin_id, "distribution": slot.record.distribution,
        "version": slot.version, "state": slot.state.value, "reason": slot.reason,
        "reported_version": meta.get("version"), "requires_api": meta.get("requires_api"),
        "requires": meta.get("requires", {}), "features": meta.get("features", []),
        "isolation": slot.config.isolation, "entry_point": slot.record.value,
        "hooks": list(slot.runner.hooks if slot.runner else []),
        "settings": [{**s.as_dict(), "value": slot.values.get(s.name, s.default)}
                     for s in slot.settings or ()],
    }


def plugin_rows(slots: Iterable[PluginSlot], recorded: Mapping[str, StatusRow],
                running: set[str],
                health: Mapping[str, Mapping[str, object]] | None = None,
                pauses: Mapping[str, PauseRow] | None = None) -> list[dict[str, Any]]:
    """``zepix plugins --json``: each slot's row; a plugin resolved but not activated
    (DISCOVERED) shows as ACTIVE, since a host activates it. Failures seen only at run
    time (activate raised, restarts exhausted) stay visible until the version changes
    or an operator restarts it, and so does what the plugin's last health snapshot
    (``health``, by plugin id) held against it. ``paused`` and ``paused_reason`` come
    from ``pauses`` (``Store.pauses``)."""
    rows = []
    for slot in slots:
        row = plugin_row(slot)
        if slot.state is PluginState.DISCOVERED:
            row["state"] = PluginState.ACTIVE.value
        last = recorded.get(slot.plugin_id)
        if (last and last["state"] == PluginState.FAILED.value
                and last["version"] == slot.version
                and row["state"] == PluginState.ACTIVE.value):
            row["state"], row["reason"] = last["state"], last["reason"]
        seen = (health or {}).get(slot.plugin_id)
        trouble = health_trouble(seen) if seen and seen.get("version") == slot.version else None
        if trouble and row["state"] == PluginState.ACTIVE.value:
            row["reason"] = trouble if not row["reason"] else f"{row['reason']}; {trouble}"
        row["running"] = slot.plugin_id in running
        pause = (pauses or {}).get(slot.plugin_id)
        row["paused"] = pause is not None
        row["paused_reason"] = pause["reason"] if pause else None
        rows.append(row)
    return rows


def health_trouble(snapshot: Mapping[str, object]) -> str | None:
    """What a health snapshot holds against the plugin: its status if not HEALTHY,
    and hooks that answered in a wrong shape."""
    parts = []
    if snapshot.get("status") not in ("HEALTHY", None):
        given = snapshot.get("reasons")
        reasons = "; ".join(str(r) for r in given) if isinstance(given, list | tuple) else ""
        parts.append(f"last health {snapshot['status']}" + (f": {reasons}" if reasons else ""))
    hook_errors = snapshot.get("hook_errors")
    for hook, errors in sorted((hook_errors if isinstance(hook_errors, Mapping)
                                else {}).items()):
        if isinstance(errors, Mapping) and errors.get("wrong_shape"):
            parts.append(f"{hook} answered in a wrong shape: {errors.get('last_message')}")
    return "; ".join(parts) or None


def history_row(row: Mapping[str, object]) -> dict[str, object]:
    return {
        "plugin_id": row["plugin_id"], "version": row["version"],
        "activated_at": row["activated_at"], "deactivated_at": row["deactivated_at"],
        "reason": row["deactivation_reason"] or row["activation_reason"],
        "activation_reason": row["activation_reason"],
        "deactivation_reason": row["deactivation_reason"],
        "distribution": row["distribution"],
    }


def history_rows(store: Store, plugin_id: str | None, limit: int,
                 since: float | None = None) -> list[dict[str, object]]:
    """``zepix history --json``: activations, newest first (from ``since`` on)."""
    return [history_row(r) for r in store.history(plugin_id, limit, since)]


def alert_row(row: Mapping[str, object], deliveries: list[Row]) -> dict[str, object]:
    return {
        "plugin_id": row["plugin_id"], "level": row["level"], "message": row["message"],
        "timestamp": row["fired_at"], "resolved": bool(row["resolved"]),
        "kind": row["kind"], "resolved_at": row["resolved_at"],
        "repeats": row["repeats"], "last_sent_at": row["last_sent_at"],
        "delivered": all(d["delivered"] for d in deliveries) if deliveries else None,
        # Rows written before redaction existed may hold a webhook's secret path.
        "deliveries": [{"sink": _shown_sink(d["sink"]), "delivered": bool(d["delivered"]),
                        "error": d["error"] and redact_text(d["error"]), "timestamp": d["ts"]}
                       for d in deliveries],
    }


def _shown_sink(name: str) -> str:
    """A sink name without secrets; older webhook names were ``webhook:host:port/path``."""
    kind, _, rest = name.partition(":")
    if kind == "webhook" and rest and "://" not in rest:
        return redact_text(f"webhook:http://{rest}").replace("http://", "", 1)
    return redact_text(name)


def alert_rows(store: Store, plugin_id: str | None = None, unresolved: bool = False,
               limit: int = 100, since: float | None = None) -> list[dict[str, object]]:
    """``zepix alerts --json``: recent alerts, newest first, with their deliveries."""
    found = store.alerts(plugin_id=plugin_id, unresolved=unresolved, limit=limit,
                         since=since)
    sent = store.deliveries([r["id"] for r in found])
    return [alert_row(r, sent[r["id"]]) for r in found]


def timeline(store: Store, plugin_id: str | None, limit: int,
             since: float | None = None) -> list[TimelineEntry]:
    """Activations, deactivations and events (crashes, restarts, give-ups, breaker,
    operator requests) as one story, newest first; with ``since``, from then on."""
    entries: list[TimelineEntry] = []
    for a in store.history(plugin_id, limit, since):
        entries.append(_entry(a["activated_at"], a, "activated", "host", a["activation_reason"]))
        if a["deactivated_at"] is not None:
            entries.append(_entry(a["deactivated_at"], a, "deactivated", "host",
                                  a["deactivation_reason"] or ""))
    for e in store.events(plugin_id, limit, since):
        entries.append(_entry(e["ts"], e, e["kind"], e["actor"], e["detail"]))
    if since is not None:
        entries = [e for e in entries if e["timestamp"] >= since]
    entries.sort(key=lambda e: e["timestamp"], reverse=True)
    return entries[:limit]


class TimelineEntry(TypedDict):
    """One line of ``zepix history --events``."""

    timestamp: float
    plugin_id: str
    version: str | None
    kind: str
    actor: str
    detail: str


def _entry(ts: float, row: Mapping[str, object], kind: str, actor: str,
           detail: str) -> TimelineEntry:
    version = row["version"]
    return {"timestamp": ts, "plugin_id": str(row["plugin_id"]),
            "version": None if version is None else str(version),
            "kind": kind, "actor": actor, "detail": detail}
