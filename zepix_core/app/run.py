"""``zepix run``: the embedding API plus a market source, fed on the calling thread."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from zepix_core.app.embedded import EmbeddedHost
from zepix_core.app.notify import Notifier, Watchdog, watchdog_period
from zepix_core.app.sources import load_source
from zepix_core.execution.lifecycle import PluginSlot
from zepix_core.host.host import Host
from zepix_core.market.sources import Source

log = logging.getLogger("zepix.app")

DEFAULT_SOURCE = "replay"


def source_for(host: Host, name: str | None, options: Mapping[str, object], *,
               once: bool = False, interval: float | None = None) -> Source:
    """The source ``name`` (else ``[market] source``, else ``replay``) with its options:
    ``[market]``'s other keys, then ``options``. The replay's defaults come from
    ``[host]``: symbols, seed, warm-up, and ``bars_per_round`` steps per interval."""
    market = dict(host.config.sections.get("market", {}))
    chosen = name or str(market.pop("source", DEFAULT_SOURCE))
    market.pop("source", None)
    merged = {**market, **options}
    if chosen == DEFAULT_SOURCE:
        cfg = host.config.host
        steps = max(1, int(cfg["bars_per_round"]))
        defaults: dict[str, object] = {
            "symbols": list(cfg["market_symbols"]), "seed": int(cfg["market_seed"]),
            "warmup": int(cfg["warmup_bars"]),
            "pace": 0.0 if once else host.interval(interval) / steps}
        if once:
            defaults["steps"] = steps
        merged = {**defaults, **merged}
    return load_source(chosen, merged)


def run(host: Host, source: Source, *, once: bool = False, duration: float | None = None,
        interval: float | None = None,
        on_start: Callable[[list[PluginSlot]], None] | None = None,
        on_round: Callable[[str], None] | None = None,
        on_services: Callable[[list[str]], None] | None = None,
        between: Callable[[], None] | None = None,
        on_stopping: Callable[[], None] | None = None) -> None:
    """Start ``host``, feed it every batch of ``source`` until the source ends, the
    host is told to stop or ``duration`` passes; rounds run on their own thread.

    The run ends with a last round, reported like the others: with ``once`` it
    is the only one (after everything the source yields); a finite source (a
    file) ends the run when it is exhausted. ``between`` is called on this thread
    after the start and after each batch (``zepix run`` re-installs its signal
    handlers there); ``on_stopping`` when the feed ends, before the shutdown.
    """
    notifier, every = Notifier.from_environment(), watchdog_period()
    embedded = EmbeddedHost.start(host, interval=interval, duration=duration,
                                  on_round=on_round, rounds=not once)
    watchdog = Watchdog(notifier, host, embedded.period, every) if every and not once else None
    try:
        if between:
            between()
        if on_start:
            on_start(list(host.slots.values()))
        if on_services:
            on_services(embedded.services.notes)
        notifier.send(f"READY=1\nSTATUS={len(host.active())} plugins active")
        if watchdog is not None:
            watchdog.start()
        stop = host.clocks.stop
        for batch in source.batches(stop):
            if stop.is_set():
                break
            embedded.feed(batch)
            if between:
                between()
    finally:
        if on_stopping:
            on_stopping()
        if watchdog is not None:
            watchdog.close()
        notifier.send("STOPPING=1")
        summary = embedded.close(bounded=False)  # zepix run has its own deadline
    if summary is not None and on_round:
        on_round(summary)
