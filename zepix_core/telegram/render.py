"""Chat presentation: emoji, HTML and message splitting, at the edge only.

Every dynamic value goes through ``esc`` (Telegram's HTML parse mode knows
``<b>``, ``<i>``, ``<code>``; anything else must be escaped). ``split`` cuts
long text at line ends below Telegram's 4,096-character limit.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from zepix_core.contract.model import Alert

#: Telegram refuses longer messages; stay a little below.
LIMIT = 4000

STATUS_EMOJI = {"HEALTHY": "🟢", "DEGRADED": "🟡", "STALE": "🟡", "HUNG": "🟠",
                "DEAD": "🔴", "UNKNOWN": "⚪"}
LEVEL_EMOJI = {"INFO": "ℹ️", "WARNING": "⚠️", "HIGH": "🔴", "CRITICAL": "🚨"}
BREAKER_EMOJI = {"CLOSED": "🟢", "HALF_OPEN": "🟡", "OPEN": "🔴"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def cut(text: object, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def split(text: str, limit: int = LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where it
    can be (a single overlong line is cut hard)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        joined = f"{current}\n{line}" if current else line
        if len(joined) > limit:
            pieces.append(current)
            joined = line
        current = joined
    if current.strip() or not pieces:
        pieces.append(current)
    return pieces


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M UTC")


# -- health --------------------------------------------------------------------
def _num(value: object, fmt: str, unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:{fmt}}{unit}"


def _table(value: object) -> Mapping[str, object]:
    """A nested table of a snapshot (``latency_ms``, ``resources``), or an empty one."""
    return value if isinstance(value, Mapping) else {}


def _when(value: object, now: float) -> float:
    """A record's time (epoch seconds); ``now`` when it has none."""
    return float(value) if isinstance(value, int | float) else now


def _resources(snap: Mapping[str, object]) -> tuple[str, str]:
    res = _table(snap.get("resources"))
    shared = " (host)" if res.get("scope") == "host" else ""
    rss = res.get("rss_bytes")
    memory = "-" if not isinstance(rss, int | float) else f"{rss / 2**20:.1f} MB{shared}"
    cpu = _num(res.get("cpu_percent"), ".1f", "%")
    return memory, cpu + (shared if cpu != "-" else "")


def plugin_card(snap: Mapping[str, object], uptime: float | None) -> str:
    """One plugin in the dashboard: the seed's six lines."""
    status = str(snap.get("status", "UNKNOWN"))
    memory, cpu = _resources(snap)
    p95 = _table(snap.get("latency_ms")).get("p95")
    return "\n".join([
        (f"{STATUS_EMOJI.get(status, '⚪')} <b>{esc(snap['plugin_id'])}</b> "
         f"<code>{esc(snap.get('version') or '')}</code>"),
        f"├ Status: {esc(status)}",
        f"├ Uptime: {duration(uptime)}",
        f"├ Exec time: {_num(p95, '.0f', ' ms')} (P95)",
        f"├ Memory: {esc(memory)}",
        f"├ CPU: {esc(cpu)}",
        f"└ Error rate: {_num(snap.get('error_rate'), '.2%')}",
    ])


def dashboard(snaps: Sequence[Mapping[str, object]], uptimes: Mapping[str, float],
              alerts: Sequence[Mapping[str, object]], now: float) -> str:
    head = "🏥 <b>Plugin health</b>"
    if not snaps:
        body = ["No snapshot yet: no plugin is active, or the first round has not run."]
    else:
        body = [plugin_card(s, uptimes.get(str(s["plugin_id"]))) for s in snaps]
    lines = [head, "", "\n\n".join(body)]
    if alerts:
        lines += ["", f"⚠️ <b>Recent alerts (last {len(alerts)})</b>"]
        lines += [alert_line(a, now) for a in alerts]
    return "\n".join(lines)


def plugin_detail(snap: Mapping[str, object], uptime: float | None, breaker: str | None,
                  now: float) -> str:
    latency = _table(snap.get("latency_ms"))
    lines = [plugin_card(snap, uptime), ""]
    lines.append(f"Latency ms: p50 {_num(latency.get('p50'), '.1f')} · p95 "
                 f"{_num(latency.get('p95'), '.1f')} · p99 {_num(latency.get('p99'), '.1f')}")
    lines.append(f"Calls: {_num(snap.get('calls'), 'd')} · errors {_num(snap.get('errors'), 'd')}"
                 f" · critical errors {_num(snap.get('critical_errors'), 'd')}")
    lines.append(f"Signals: {_num(snap.get('signals_processed'), '.0f')} · orders "
                 f"{_num(snap.get('orders_placed'), '.0f')} · win rate "
                 f"{_num(snap.get('win_rate'), '.0%')}")
    if breaker is not None:
        lines.append(f"Breaker: {BREAKER_EMOJI.get(breaker, '')} {esc(breaker)}")
    if snap.get("self_test_passed") is not None:
        lines.append(f"Self test: {'passed' if snap['self_test_passed'] else 'FAILED'}")
    lines.append(f"Checked: {ago(now - _when(snap.get('timestamp'), now))} ago")
    reasons = snap.get("reasons")
    if isinstance(reasons, list | tuple) and reasons:
        lines += ["", "<b>Why</b>"] + [f"• {esc(cut(r, 300))}" for r in reasons]
    return "\n".join(lines)


# -- alerts --------------------------------------------------------------------
def alert_line(row: Mapping[str, object], now: float) -> str:
    """An alert record (``zepix alerts --json`` row) in one line."""
    level = str(row.get("level", ""))
    done = " ✅ resolved" if row.get("resolved") else ""
    return (f"• [{ago(now - _when(row['timestamp'], now))}] {LEVEL_EMOJI.get(level, '')} "
            f"<b>{esc(row['plugin_id'])}</b> {esc(cut(row['message'], 160))}{done}")


def open_alerts(rows: Sequence[Mapping[str, object]], now: float) -> str:
    if not rows:
        return "✅ No open alerts."
    lines = [f"🔔 <b>Open alerts ({len(rows)})</b>", ""]
    for row in rows:
        level = str(row["level"])
        repeats = f" · repeated {row['repeats']}x" if row.get("repeats") else ""
        lines.append(f"{LEVEL_EMOJI.get(level, '')} <b>{esc(row['plugin_id'])}</b> "
                     f"{esc(level)} · {esc(row['kind'])} · since "
                     f"{ago(now - _when(row['timestamp'], now))}{repeats}\n"
                     f"   {esc(cut(row['message'], 300))}")
    return "\n".join(lines)


def alert_message(alert: Alert) -> str:
    """One alert event for a phone screen: what, which plugin, how bad, since when."""
    level = alert.level.value
    if alert.resolved:
        took = alert.details.get("duration_s")
        head = f"✅ <b>Resolved</b> · {esc(alert.plugin_id)}"
        tail = f"\nWas {esc(level)} for {duration(took)}" if isinstance(took, int | float) else ""
        return f"{head}\n{esc(cut(alert.message, 600))}{tail}"
    head = f"{LEVEL_EMOJI.get(level, '')} <b>{esc(level)}</b> · {esc(alert.plugin_id)}"
    if "escalated_from" in alert.details:
        head += f"\n⬆️ escalated from {esc(alert.details['escalated_from'])}"
    elif alert.event == "repeated":
        since = alert.details.get("fired_at")
        head += "\n🔁 still firing" + (f" since {hhmm(float(since))}"
                                       if isinstance(since, int | float) else "")
    return f"{head}\n{esc(cut(alert.message, 600))}"


def alert_batch_line(alert: Alert) -> str:
    level = alert.level.value
    mark = "✅" if alert.resolved else LEVEL_EMOJI.get(level, "")
    what = "resolved: " if alert.resolved else ("still: " if alert.event == "repeated" else "")
    return f"{mark} <b>{esc(alert.plugin_id)}</b> {what}{esc(cut(alert.message, 200))}"


def alert_batches(alerts: Sequence[Alert], limit: int = LIMIT) -> list[tuple[str, int]]:
    """Texts for ``alerts`` to one chat: one message, or a batch of lines when there
    are several; each text with how many alerts it carries, in order."""
    if len(alerts) == 1:
        return [(alert_message(alerts[0]), 1)]
    out: list[tuple[str, int]] = []
    rest = list(alerts)
    while rest:
        lines: list[str] = []
        size = 40
        for alert in rest:
            line = alert_batch_line(alert)
            if lines and size + len(line) + 1 > limit:
                break
            lines.append(line)
            size += len(line) + 1
        head = f"🔔 <b>{len(lines)} alerts</b>"
        out.append(("\n".join([head, *lines]), len(lines)))
        rest = rest[len(lines):]
    return out


# -- versions, history, breakers --------------------------------------------------
def versions(listing: Mapping[str, Sequence[Mapping[str, object]]], notes: bool = False) -> str:
    """Each plugin's active version with its release date (build date), commit and
    features; ``notes``: every version with its release notes (``/version ID``)."""
    if not listing:
        return "No plugin is known yet."
    lines = ["📦 <b>Plugin versions</b>", ""]
    for pid, rows in listing.items():
        active = [r for r in rows if r["state"] == "active"]
        others = [r for r in rows if r["state"] != "active"]
        now = active[0]["version"] if active else "none"
        note = f" ({esc(active[0]['note'])})" if active and active[0].get("note") else ""
        lines.append(f"📌 <b>{esc(pid)}</b> <code>{esc(now)}</code>{note}")
        if active:
            lines += release(active[0], notes)
        if others and not notes:
            more = ", ".join(f"{esc(r['version'])} {esc(r['state'])}" for r in reversed(others))
            lines.append(f"└ also: {more}")
        for row in reversed(others) if notes else ():
            lines.append(f"• <code>{esc(row['version'])}</code> {esc(row['state'])}")
            lines += release(row, notes)
    return "\n".join(lines)


#: Release notes shown per version in a chat message, in characters.
NOTES_SHOWN = 600


def release(row: Mapping[str, object], notes: bool) -> list[str]:
    """A version's release facts, a line each (none when it states none)."""
    out = [f"├ {label}: {esc(str(row[key]))}" for label, key in (
        ("Released", "build_date"), ("Commit", "commit"), ("Author", "author"))
        if row.get(key)]
    features = row.get("features")
    if isinstance(features, list) and features:
        out.append(f"├ Features: {esc(', '.join(str(f) for f in features))}")
    text = str(row.get("release_notes") or "")
    if notes and text:
        cut = text if len(text) <= NOTES_SHOWN else text[:NOTES_SHOWN - 1] + "…"
        out.append(f"└ Notes: {esc(cut)}")
    return out


def history(plugin_id: str, entries: Iterable[Mapping[str, object]], now: float) -> str:
    rows = list(entries)
    if not rows:
        return f"No history for <b>{esc(plugin_id)}</b> yet."
    lines = [f"📜 <b>{esc(plugin_id)}</b>: last {len(rows)} transitions", ""]
    for e in rows:
        lines.append(f"• [{ago(now - _when(e['timestamp'], now))} ago] <b>{esc(e['kind'])}</b> "
                     f"<code>{esc(e['version'])}</code> by {esc(e['actor'])}\n"
                     f"   {esc(cut(e['detail'] or '', 240))}")
    return "\n".join(lines)


def breakers(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return "No plugin is loaded."
    lines = ["🔌 <b>Circuit breakers</b>", ""]
    for row in rows:
        state = str(row["state"])
        extra = ""
        if row.get("consecutive_failures"):
            extra += f" · {row['consecutive_failures']} failures in a row"
        if isinstance(row.get("retry_in_s"), int | float):
            extra += f" · trial in {row['retry_in_s']:.0f}s"
        lines.append(f"{BREAKER_EMOJI.get(state, '')} <b>{esc(row['plugin_id'])}</b> "
                     f"{esc(state)}{extra}")
    return "\n".join(lines)
