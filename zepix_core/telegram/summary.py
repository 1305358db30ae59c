"""``[telegram] daily_summary = "HH:MM"``: the day in one message, once a day.

At that UTC time the bot sends the day that just ended (the 24 hours up to it) to
``alert_chats`` (else ``allowed_chats``): realised P&L per plugin and how many
closes and fills made it (the paper trades the plugins closed, the bot's fills
the host booked that realised something, fees included, as ``/profit`` counts
them), incidents (alerts that fired, by level) and versions changed
(activations whose version differs from the plugin's previous one). Each day sent
is recorded in ``daily_summaries`` (zepix.db), so a restarted host never sends a
day twice; one that was down at the time sends it when it is back within
``LATE_LIMIT`` (6 h), and skips it after that.
The thread reads the wall clock it is given, so tests move time by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from zepix_core.contract.errors import ZepixError, describe
from zepix_core.contract.logs import fields
from zepix_core.host.facade import of
from zepix_core.host.host import Host
from zepix_core.storage import Row, Store
from zepix_core.telegram import render

log = logging.getLogger("zepix.telegram")
DAY = 86400.0
#: Alerts and version changes listed by name; the rest are counted.
SHOWN = 5
#: Seconds after its time a missed summary is still sent (a host restarted that morning);
#: a day the host missed by more is skipped, so a first start never sends an old day.
LATE_LIMIT = 6 * 3600.0
LEVELS = ("CRITICAL", "HIGH", "WARNING", "INFO")


def parse_time(text: str) -> tuple[int, int]:
    """``"HH:MM"`` (checked by the ``[telegram]`` table) as (hour, minute)."""
    hours, _, minutes = text.partition(":")
    return int(hours), int(minutes)


def due_at(now: float, at: tuple[int, int]) -> float:
    """The latest scheduled time (epoch seconds) at or before ``now``."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=at[0], minute=at[1], second=0,
                                                     microsecond=0).timestamp()
    return today if today <= now else today - DAY


@dataclass
class Day:
    """What one summary says: the window ``[start, end)`` and its figures."""

    start: float
    end: float
    pnl: dict[str, tuple[float, int]] = field(default_factory=dict)
    incidents: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)

    @property
    def total(self) -> tuple[float, int]:
        return (sum(p for p, _ in self.pnl.values()), sum(n for _, n in self.pnl.values()))


def gather(host: Host, store: Store, start: float, end: float) -> Day:
    """The figures of ``[start, end)``: every plugin of the host that is active or
    realised something in it, the alerts fired, the versions changed."""
    day = Day(start, end, incidents=store.alerts_fired(start, end))
    active = {s.plugin_id for s in host.active()}
    for pid in sorted(set(host.slots)):
        pnl, trades = of(host).realised_between(pid, start, end)
        if trades or pid in active:
            day.pnl[pid] = (pnl, trades)
    day.changes = [r for r in store.activations_between(start, end)
                   if r["previous"] != r["version"]]
    return day


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def text(day: Day, late: float = 0.0, title: str = "Daily summary") -> str:
    """The message (Telegram HTML)."""
    pnl, trades = day.total
    lines = [f"📅 <b>{title}</b> {_stamp(day.start)} → {_stamp(day.end)} UTC"]
    if late >= 60:
        lines.append(f"(sent {render.duration(late)} late: the host was not running then)")
    lines += ["", f"<b>Realised P&amp;L</b>: {pnl:+.2f} over {trades} closes and fills"]
    lines += [f"{render.esc(pid)}: {p:+.2f} ({n})" for pid, (p, n) in day.pnl.items()]
    levels = Counter(str(r["level"]) for r in day.incidents)
    counted = ", ".join(f"{levels[lv]} {lv}" for lv in LEVELS if levels[lv])
    lines += ["", f"<b>Incidents</b>: {len(day.incidents)} alert"
              f"{'' if len(day.incidents) == 1 else 's'}" + (f" ({counted})" if counted else "")]
    lines += [f"• {render.esc(r['level'])} {render.esc(r['plugin_id'])}: "
              f"{render.esc(render.cut(str(r['message']), 120))}"
              for r in day.incidents[-SHOWN:]]
    lines += ["", f"<b>Versions changed</b>: {len(day.changes)}"]
    for r in day.changes[-SHOWN:]:
        was = "new" if r["previous"] is None else render.esc(r["previous"])
        lines.append(f"• {render.esc(r['plugin_id'])}: {was} → {render.esc(r['version'])} "
                     f"({render.esc(render.cut(str(r['activation_reason']), 80))})")
    return "\n".join(lines)


class DailySummary:
    """Looks at the clock every ``poll`` seconds on a thread of its own; ``check`` is one
    look (tests call it directly or let the thread run)."""

    def __init__(self, host: Host, store: Store, send: Callable[[int, str], None],
                 chats: Sequence[int], at: tuple[int, int], *,
                 wall: Callable[[], float] = time.time, poll: float = 20.0,
                 retry_every: float = 300.0) -> None:
        self.host, self.store, self.send = host, store, send
        self.chats, self.at, self.wall = tuple(chats), at, wall
        self.poll, self.retry_every = poll, retry_every
        self._failed_at: float | None = None  # monotonic: a failed send waits a while
        self._lock = threading.Lock()  # one look at a time: the thread's and a caller's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zepix-telegram-summary",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except (ZepixError, OSError) as exc:  # the database went away: next look
                log.warning("daily summary not made", extra=fields(error=describe(exc)))
            self._stop.wait(self.poll)

    def check(self) -> bool:
        """Send the summary of the last day that ended, unless it went already or is
        more than ``LATE_LIMIT`` late; True when this call sent it."""
        with self._lock:
            return self._check()

    def _check(self) -> bool:
        now = self.wall()
        due = due_at(now, self.at)
        if now - due > LATE_LIMIT or self.store.summary_sent(due) is not None:
            return False
        if (self._failed_at is not None
                and time.monotonic() - self._failed_at < self.retry_every):
            return False
        message = text(gather(self.host, self.store, due - DAY, due), late=now - due)
        reached = []
        for chat in self.chats:
            try:
                for piece in render.split(message):
                    self.send(chat, piece)
                reached.append(chat)
            except Exception as exc:  # noqa: BLE001 - any failure of one chat's delivery
                log.warning("daily summary not delivered", extra=fields(
                    chat=chat, error=describe(exc)))
        if not reached:
            self._failed_at = time.monotonic()
            return False
        self._failed_at = None
        self.store.record_summary(due, self.wall(), reached, message)
        log.info("daily summary sent", extra=fields(day=_stamp(due), chats=len(reached)))
        return True
