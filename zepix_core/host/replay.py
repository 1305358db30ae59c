"""The seeded replay driver: the deterministic loop of tests and the author kit.

``run`` starts a host, feeds ``warmup_bars`` replay steps in one batch, then
alternates ``bars_per_round`` replay steps (bar by bar, as a live feed gives them)
and a round on the calling thread until told to stop. A bot embeds the host
instead (``zepix_core.open_host``: its own bars, rounds on their own timer thread).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from zepix_core.contract.logs import fields
from zepix_core.contract.model import Bar, Intent
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.host.loop import Loop
from zepix_core.loading.config import Config
from zepix_core.market.replay import MarketReplay
from zepix_core.storage import PauseRow, Store

log = logging.getLogger("zepix.host")

__all__ = ["Replay", "ReplayHost"]


class ReplayHost(Protocol):
    """What the replay drives (``host.host.Host``)."""

    store: Store
    loop: Loop
    dispatcher: Dispatcher
    @property
    def pauses(self) -> dict[str, PauseRow]: ...
    @property
    def config(self) -> Config: ...
    def start(self) -> list[PluginSlot]: ...
    def shutdown(self, reason: str = "shutdown") -> None: ...
    def round(self) -> str: ...
    def active(self) -> list[PluginSlot]: ...
    def on_bar(self, bar: Bar) -> list[Intent]: ...
    def interval(self, override: float | None = None) -> float: ...
    def rounds(self, period: float, on_round: Callable[[str], None] | None = None, *,
               once: bool = False, duration: float | None = None,
               step: Callable[[], str] | None = None) -> None: ...


class Replay:
    """Seeded bars for one host, from ``[host] market_symbols`` and ``market_seed``."""

    def __init__(self, host: ReplayHost, config: Config) -> None:
        self.host = host
        self.market = MarketReplay(symbols=config.host["market_symbols"],
                                   seed=int(config.host["market_seed"]))

    def run(self, *, once: bool = False, duration: float | None = None,
            interval: float | None = None,
            on_start: Callable[[list[PluginSlot]], None] | None = None,
            on_round: Callable[[str], None] | None = None) -> None:
        """Start, then alternate replay bars and rounds on this thread until told to stop."""
        host = self.host
        host.store.defer_writes = True  # a locked or full database never stops trading
        host.loop.hold()
        try:
            slots = host.start()  # inside the try: what it activated is deactivated
            if on_start:
                on_start(slots)
            self.warm_up()

            def replay_then_round() -> str:
                self.work()
                return host.round()

            host.rounds(host.interval(interval), on_round, once=once, duration=duration,
                        step=replay_then_round)
        finally:
            host.shutdown()
            host.loop.let_go()

    def work(self) -> tuple[int, int]:
        """Feed this round's replay bars (``bars_per_round`` steps). Returns how many bars
        were fed and how many trade intents active plugins returned (a canary's shadow
        intents are recorded, not counted)."""
        bars = intents = 0
        for _ in range(int(self.host.config.host["bars_per_round"])):
            for bar in self.market.next_bars():  # bar by bar, as a live feed gives them
                bars += 1
                intents += len(self.host.on_bar(bar))
        return bars, intents

    def warm_up(self) -> None:
        """Feed ``warmup_bars`` replay steps before the first round, in one batch:
        strategies need indicator history before they can signal, and one batch means a
        plugin that hangs costs one deadline here, not one per bar."""
        host = self.host
        steps = int(host.config.host["warmup_bars"])
        bars = [bar for _ in range(steps) for bar in self.market.next_bars()]
        paused: Mapping[str, PauseRow] = host.pauses
        runners = [s.runner for s in host.active()
                   if s.runner is not None and s.plugin_id not in paused]
        if bars and runners:
            with host.loop.busy:
                host.dispatcher.feed(runners, bars)
            log.info("warmed up", extra=fields(plugins=len(runners), bars=len(bars)))
