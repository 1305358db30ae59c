"""After a Confirm: record the change as the CLI does, then follow it in the chat.

The prompt is edited with each step: recorded, applied by the host (within
``Timing.apply_wait``), and for a version on probation the gate's verdict
(within ``Timing.gate_wait``), or a rollback and the version running now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.logs import fields
from zepix_core.storage import RequestRow
from zepix_core.telegram import render
from zepix_core.telegram.botapi import BotApi
from zepix_core.telegram.commands import Surface
from zepix_core.telegram.confirm import Pending

log = logging.getLogger("zepix.telegram")
T = TypeVar("T")


class Timing:
    """The bot's waits, injectable for tests. ``clock`` is monotonic and times the
    Confirm expiry and the refusal log limit; ``interval`` is the host's round."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, confirm_ttl: float = 60.0,
                 interval: float = 30.0, probation_rounds: int = 3, poll_timeout: float = 10.0,
                 sweep_every: float = 1.0, poll: float = 0.25) -> None:
        self.clock, self.confirm_ttl, self.poll_timeout = clock, confirm_ttl, poll_timeout
        self.sweep_every, self.poll = sweep_every, poll
        self.apply_wait = 3 * interval + 15.0
        self.gate_wait = (probation_rounds + 2) * interval + 15.0


class Follow:
    def __init__(self, surface: Surface, api: BotApi, timing: Timing) -> None:
        self.surface, self.api, self.timing = surface, api, timing

    async def carry_out(self, pending: Pending, user_id: int) -> None:
        """Record the change as the CLI does, then edit the prompt with the outcome:
        when the host applied it and, for a version on probation, the gate's verdict."""
        ask, actor = pending.ask, f"telegram:{user_id}"
        head = f"{ask.question()}\nConfirmed by {render.esc(actor)}."
        await self.api.edit(pending, f"{head}\n⏳ Recording…")
        try:
            done = await asyncio.to_thread(self.surface.perform, ask, actor)
        except ZepixError as exc:
            await self.api.edit(pending, f"{head}\n❌ Refused: {render.esc(exc)}")
            return
        log.info("telegram change recorded", extra=fields(
            plugin=ask.plugin_id, action=ask.action, actor=actor, request=done.request_id))
        if done.request_id is None:
            await self.api.edit(pending, f"{head}\nℹ️ {render.esc(done.message)}")
            return
        text = (f"{head}\n⏳ Request {done.request_id}: {render.esc(done.message)}; the host "
                "applies it within one round.")
        await self.api.edit(pending, text)
        row = await self.until(lambda: self._applied(done.request_id), self.timing.apply_wait)
        if row is None:
            await self.api.edit(pending, f"{text}\n⌛ Not applied within "
                                f"{self.timing.apply_wait:.0f} s; follow it with /history "
                                f"{render.esc(ask.plugin_id)}")
            return
        outcome = str(row["outcome"])
        failed = outcome.startswith(("failed", "refused", "not restarted"))
        text = f"{head}\n{'❌' if failed else '✅'} Request {done.request_id}: {render.esc(outcome)}"
        await self.api.edit(pending, text)
        if "on probation" in outcome and done.version is not None:
            await self._follow_gate(pending, text, done.version,
                                    row["applied_at"] or 0.0)

    async def _follow_gate(self, pending: Pending, text: str, version: str,
                           since: float) -> None:
        pid = pending.ask.plugin_id
        event = await self.until(lambda: self.surface.gate_verdict(pid, version, since),
                                 self.timing.gate_wait)
        if event is None:
            return
        if event["kind"] == "gate_passed":
            text += f"\n🎓 {render.esc(event['detail'])}"
        else:
            # the event is written before the rollback loads: wait for the version to change
            running = await self.until(lambda: self.surface.running_version(pid, not_=version),
                                       self.timing.apply_wait)
            text += (f"\n↩️ Gate rollback: {render.esc(event['detail'])}; now running "
                     f"{render.esc(running or 'nothing')}")
        await self.api.edit(pending, text)

    def _applied(self, request_id: int | None) -> RequestRow | None:
        row = self.surface.request(int(request_id or 0))
        return row if row is not None and row["applied_at"] is not None else None

    async def until(self, probe: Callable[[], T | None], seconds: float) -> T | None:
        deadline = time.monotonic() + seconds
        while True:
            found = await asyncio.to_thread(probe)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(self.timing.poll)
