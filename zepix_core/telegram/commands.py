"""What each chat command answers, and the operations behind the ones that change things.

``Surface`` is what the bot sees of the running host: the host's slots and
breakers, a database connection of the bot's own (a slow read never holds
the host's), and the same operations the CLI runs: ``versions.policy.VersionCommands``
for upgrade and rollback, ``supervision.requests.request_restart`` for
restart, with ``telegram:<user id>`` recorded as who asked. Nothing here knows
python-telegram-bot; ``controller`` wires these to handlers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.model import PluginState
from zepix_core.host.facade import of
from zepix_core.host.host import Host
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.loading.paths import store_dir
from zepix_core.storage import EventRow, RequestRow, Store
from zepix_core.supervision import controls
from zepix_core.supervision.requests import request_restart
from zepix_core.telegram import render, summary
from zepix_core.versions.policy import Recorded, VersionCommands
from zepix_core.versions.store import PluginStore
from zepix_core.views.records import alert_rows, timeline
from zepix_core.views.status import host_status
from zepix_core.views.versions import version_listing

HELP = """<b>Zepix bot</b>
/health: every plugin at a glance
/health ID: one plugin in detail
/version [ID]: versions, release date, commit, features; with ID, release notes
/upgrade ID VERSION: move a plugin to an installed version (asks first)
/rollback ID: back to the last known good version (asks first)
/restart ID: load a fresh instance of a plugin (asks first)
/pause ID|all [reason]: stop a plugin (or every plugin) trading now
/resume ID|all: trade again (asks first)
/silence ID[:KIND] MINUTES [reason]: record its alerts without sending them
/profit [ID]: realised P&L today and in total, positions, win rate
/status: the host: uptime, version, last round, sync lag, paused plugins
/summary: the last 24 hours as the daily summary tells them
/sync: copy every plugin's trades into the central ledger now
/alerts: open alerts
/history ID: the last transitions of a plugin
/breakers: circuit breakers
/help: this list"""

ACTIONS = ("upgrade", "rollback", "restart", "resume")
#: What ``/pause all`` and ``/resume all`` name instead of one plugin id.
ALL = "all"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class BadArgument(ZepixError):
    """A command's arguments are wrong; the message says how to fix them."""


@dataclass(frozen=True)
class Ask:
    """A change waiting for its asker's Confirm."""

    action: str
    plugin_id: str
    version: str | None = None
    force: bool = False

    def question(self) -> str:
        pid = render.esc(self.plugin_id)
        if self.action == "upgrade":
            force = " (crossing a MAJOR version: forced)" if self.force else ""
            return f"⬆️ Upgrade <b>{pid}</b> to <code>{render.esc(self.version)}</code>{force}?"
        if self.action == "rollback":
            return f"↩️ Roll <b>{pid}</b> back to its last known good version?"
        if self.action == "resume":
            which = "every paused plugin" if self.plugin_id == ALL else f"<b>{pid}</b>"
            return f"▶️ Resume trading of {which}?"
        return f"🔄 Restart <b>{pid}</b>?"


class Surface:
    """The running host as the bot sees it (see the module docstring)."""

    def __init__(self, host: Host, store: Store,
                 wall: Callable[[], float] = time.time) -> None:
        self.host = host
        self.store = store
        self.wall = wall

    # -- ids -----------------------------------------------------------------
    def plugin_ids(self) -> list[str]:
        return sorted(set(self.host.slots) | set(self.store.statuses()))

    def require(self, command: str, plugin_id: str) -> str:
        known = self.plugin_ids()
        if plugin_id not in known:
            hint = ", ".join(known[:20]) or "none yet"
            raise BadArgument(f"/{command}: no plugin '{plugin_id}'. Known: {hint}")
        return plugin_id

    # -- reads ---------------------------------------------------------------
    def uptimes(self) -> dict[str, float]:
        now = self.wall()
        return {r["plugin_id"]: now - float(r["activated_at"])
                for r in self.store.open_activations()}

    def health(self, plugin_id: str | None) -> str:
        now = self.wall()
        if plugin_id is None:
            recent = alert_rows(self.store, limit=5)
            return render.dashboard(self.store.latest_snapshots(), self.uptimes(), recent, now)
        pid = self.require("health", plugin_id)
        snaps = self.store.snapshots(pid, limit=1)
        if not snaps:
            return (f"No snapshot of <b>{render.esc(pid)}</b> yet: it is not active or its "
                    "first round has not run.")
        breaker = self.breaker(pid)["state"] if pid in self.host.slots else None
        return render.plugin_detail(snaps[0], self.uptimes().get(pid), breaker, now)

    def versions(self, plugin_id: str | None = None) -> str:
        """Each plugin's active version with its release facts; with an id, every
        version of that plugin with its release notes."""
        operator = self.operator("telegram")
        ids = [self.require("version", plugin_id)] if plugin_id else self.plugin_ids()
        listing = {pid: rows for pid in ids if (rows := version_listing(operator, pid))}
        return render.versions(listing, notes=plugin_id is not None)

    def alerts(self) -> str:
        return render.open_alerts(alert_rows(self.store, unresolved=True, limit=50), self.wall())

    def history(self, plugin_id: str) -> str:
        pid = self.require("history", plugin_id)
        return render.history(pid, timeline(self.store, pid, 10), self.wall())

    def breaker(self, plugin_id: str) -> dict[str, Any]:
        fields = of(self.host).breaker_fields(plugin_id)
        return {"plugin_id": plugin_id, "state": fields["breaker"],
                **(fields["breaker_detail"] or {})}

    def breakers(self) -> str:
        return render.breakers([self.breaker(pid) for pid in sorted(self.host.slots)])

    # -- changes -------------------------------------------------------------
    def operator(self, actor: str) -> VersionCommands:
        """The version operator ``zepix upgrade`` uses, recording ``actor``."""
        return VersionCommands(self.store, PluginStore(store_dir()), self.host.config,
                        enumerate_plugins(self.host.paths), self.host.api_version,
                        clock=self.wall, actor=actor)

    def pause(self, args: Sequence[str], actor: str) -> str:
        """``/pause ID|all [reason]``: at once, no Confirm (a stop must never wait)."""
        if not args or not (args[0] == ALL or _ID.match(args[0])):
            raise BadArgument("Usage: /pause ID|all [reason] (e.g. /pause all exchange down)")
        target = None if args[0] == ALL else self.require("pause", args[0])
        reason = " ".join(args[1:]) or f"paused from Telegram by {actor}"
        changed = controls.pause(self.store, target, reason, actor, self.wall(),
                                 every=target is None, extra=self.host.slots)
        paused = self.host.refresh_pauses()
        done = ", ".join(render.esc(p) for p in changed) or "nothing new (already paused)"
        return (f"⏸️ Paused: {done}. No bars, no intents until /resume.\n"
                f"Paused now: {render.esc(', '.join(sorted(paused)) or 'none')}")

    def silence(self, args: Sequence[str], actor: str) -> str:
        """``/silence ID[:KIND] MINUTES [reason]``."""
        usage = "Usage: /silence ID[:KIND] MINUTES [reason] (e.g. /silence combined_v3 60)"
        if len(args) < 2:
            raise BadArgument(usage)
        try:
            minutes = float(args[1])
        except ValueError:
            raise BadArgument(f"/silence: '{args[1]}' is not a number of minutes. "
                              f"{usage}") from None
        reason = " ".join(args[2:]) or f"silenced from Telegram by {actor}"
        try:
            row = controls.silence(self.store, args[0], minutes, reason, actor, self.wall(),
                                   extra=self.host.slots)
        except ZepixError as exc:
            raise BadArgument(f"/{exc}") from None
        kind = f":{row['kind']}" if row["kind"] else ""
        return (f"🔕 Silence {row['id']}: alerts of <b>{render.esc(row['plugin_id'] + kind)}"
                f"</b> are recorded, not sent, for {minutes:g} min.")

    def status(self) -> str:
        """``/status``: what ``zepix status`` says, in a few lines."""
        doc = host_status(self.store, self.wall(), float(self.host.config.host["interval"]),
                          self.host.config.sync().url)
        up = doc["uptime_seconds"]
        lag = doc["sync_lag_seconds"]
        states = ", ".join(f"{n} {s}" for s, n in doc["plugins"]["by_state"].items())
        health = ", ".join(f"{n} {s}" for s, n in doc["plugins"]["by_health"].items())
        age = doc["round_age_seconds"]
        return "\n".join([
            f"<b>Zepix {render.esc(doc['version'])}</b> "
            + (f"running (pid {doc['pid']}), up {render.duration(up)}" if doc["running"]
               else "not running"),
            "Last round: " + ("none yet" if age is None else
                              f"{age:.0f} s ago" + ("" if doc["fresh"] else " (late)")),
            f"Plugins: {render.esc(states or 'none')}; health: {render.esc(health or '-')}",
            "Paused: " + render.esc(", ".join(doc["paused"]) or "none"),
            "Sync lag: " + ("-" if lag is None else f"{lag:.0f} s")])

    def profit(self, plugin_id: str | None) -> str:
        """``/profit [ID]``: what the dashboard's desk columns show, per plugin."""
        ids = ([self.require("profit", plugin_id)] if plugin_id is not None
               else sorted(s.plugin_id for s in self.host.active()))
        if not ids:
            return "No active plugin."
        now, lines, total = self.wall(), ["<b>Realised P&amp;L</b> (today / total)"], 0.0
        for pid in ids:
            d = of(self.host).risk_desk(pid, now)
            total += d["pnl_total"]
            rate = "-" if d["win_rate"] is None else f"{100 * d['win_rate']:.0f}%"
            paused = " ⏸️" if pid in self.host.pauses else ""
            lines.append(f"{render.esc(pid)}{paused}: {d['pnl_today']:+.2f} / "
                         f"{d['pnl_total']:+.2f}; {d['open_positions']} open; win rate "
                         f"{rate} of {d['round_trips']}")
        if len(ids) > 1:
            lines.append(f"<b>All</b>: {total:+.2f}")
        return "\n".join(lines)

    def summary(self) -> str:
        """``/summary``: the last 24 hours, as ``[telegram] daily_summary`` sends a day."""
        now = self.wall()
        return summary.text(summary.gather(self.host, self.store, now - summary.DAY, now),
                            title="The last 24 hours")

    def sync(self, args: Sequence[str], actor: str) -> str:
        """``/sync``: start a sync of every plugin database now, as ``zepix sync --now``."""
        if args:
            raise BadArgument("Usage: /sync (no arguments)")
        if not of(self.host).sync_now(actor):
            return "⏳ A sync is running already; /sync again once it ended."
        return "🔄 Sync started: every plugin's trades go to the central ledger now."

    def resume(self, plugin_id: str, actor: str) -> Recorded:
        target = None if plugin_id == ALL else plugin_id
        changed = controls.resume(self.store, target, actor, self.wall(),
                                  every=target is None, extra=self.host.slots)
        self.host.refresh_pauses()
        return Recorded(plugin_id, "resume", None,
                        f"resumed: {', '.join(changed) or 'nothing (not paused)'}")

    def perform(self, ask: Ask, actor: str) -> Recorded:
        """Record the change as the CLI does; the host applies it within one round."""
        if ask.action == "resume":
            return self.resume(ask.plugin_id, actor)
        if ask.action == "upgrade":
            assert ask.version is not None
            return self.operator(actor).upgrade(ask.plugin_id, ask.version, ask.force)
        if ask.action == "rollback":
            return self.operator(actor).rollback(ask.plugin_id)
        rid = request_restart(self.store, ask.plugin_id, actor, self.wall(), host_running=True)
        return Recorded(ask.plugin_id, "restart", None, "restart requested", rid)

    def request(self, request_id: int) -> RequestRow | None:
        return self.store.request(request_id)

    def gate_verdict(self, plugin_id: str, version: str, since: float) -> EventRow | None:
        """The gate's ``gate_passed``/``gate_failed`` event for ``version`` since ``since``."""
        for event in self.store.events(plugin_id, 20):
            if event["ts"] < since:
                break
            if event["kind"] in ("gate_passed", "gate_failed") and event["version"] == version:
                return event
        return None

    def running_version(self, plugin_id: str, not_: str | None = None) -> str | None:
        """``VERSION (STATE)`` of the plugin's slot; None while it is ``not_`` or loading."""
        slot = self.host.slots.get(plugin_id)
        if (slot is None or slot.state is PluginState.DISCOVERED
                or (not_ is not None and slot.version == not_)):
            return None
        return f"{slot.version} ({slot.state.value})"


def parse_ask(command: str, args: Sequence[str]) -> Ask:
    """A mutation's arguments checked for shape; ``BadArgument`` says what is wrong."""
    usage = {"upgrade": "/upgrade ID VERSION (e.g. /upgrade combined_v3 3.3.0)",
             "rollback": "/rollback ID (e.g. /rollback combined_v3)",
             "restart": "/restart ID (e.g. /restart combined_v3)",
             "resume": "/resume ID|all (e.g. /resume all)"}[command]
    words = [a for a in args if a not in ("--force", "force")]
    force = len(words) != len(args)
    want = 2 if command == "upgrade" else 1
    if len(words) != want or (force and command != "upgrade"):
        raise BadArgument(f"Usage: {usage}")
    plugin_id = words[0]
    if not _ID.match(plugin_id) or (plugin_id == ALL and command != "resume"):
        raise BadArgument(f"/{command}: '{plugin_id}' is not a plugin id (lowercase letters, "
                          f"digits and _). Usage: {usage}")
    version = None
    if command == "upgrade":
        try:
            version = str(Version(words[1]))
        except InvalidVersion:
            raise BadArgument(f"/upgrade: '{words[1]}' is not a version (PEP 440, e.g. "
                              "3.3.0). Usage: " + usage) from None
    return Ask(command, plugin_id, version, force)


def one_id(command: str, args: Sequence[str], optional: bool = False) -> str | None:
    if optional and not args:
        return None
    if len(args) != 1 or not _ID.match(args[0]):
        form = f"/{command} [ID]" if optional else f"/{command} ID"
        raise BadArgument(f"Usage: {form} (a plugin id such as combined_v3)")
    return args[0]
