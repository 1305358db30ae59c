"""``open_host_async``: the embedding API for asyncio bots; never blocks the event loop.

Bars and fills run, in order, on one worker thread of the host's; reads run on
the loop's default executor, so a read never waits behind a bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from zepix_core.app.embedded import EmbeddedHost, build_host
from zepix_core.contract.jsondoc import JSON
from zepix_core.contract.model import Bar, Fill, Intent
from zepix_core.contract.process import own_current
from zepix_core.execution.ports import Clocks

T = TypeVar("T")


class AsyncHost:
    """The awaitable face of an ``EmbeddedHost`` (``sync`` is the host itself)."""

    def __init__(self, embedded: EmbeddedHost, executor: ThreadPoolExecutor) -> None:
        self.sync = embedded
        self._executor = executor

    async def _ordered(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def on_bar(self, bar: Bar) -> list[Intent]:
        return await self._ordered(self.sync.on_bar, bar)

    async def feed(self, bars: Sequence[Bar]) -> list[Intent]:
        return await self._ordered(self.sync.feed, bars)

    async def report_fill(self, fill: Fill) -> Intent:
        return await self._ordered(self.sync.report_fill, fill)

    async def round(self) -> str:
        """A monitoring round now, in order with bars and fills; its summary line."""
        return await self._ordered(self.sync.round)

    async def plugins(self) -> list[dict[str, JSON]]:
        return await asyncio.get_running_loop().run_in_executor(None, self.sync.plugins)

    async def health(self) -> list[dict[str, JSON]]:
        return await asyncio.get_running_loop().run_in_executor(None, self.sync.health)


@asynccontextmanager
async def open_host_async(config: Path | str | None = None, db: Path | str | None = None, *,
                          interval: float | None = None, paths: Sequence[str] | None = None,
                          clocks: Clocks | None = None,
                          on_round: Callable[[str], None] | None = None,
                          plugins: Sequence[str] | None = None, fresh: bool = False,
                          services: bool = True) -> AsyncIterator[AsyncHost]:
    """``async with open_host_async(...) as host``: ``open_host`` for asyncio; starting
    and closing (activation and deactivation hooks) run off the event loop too."""
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(1, thread_name_prefix="zepix-bars", initializer=own_current)
    try:
        embedded = await loop.run_in_executor(executor, partial(
            _start, config, db, interval=interval, paths=paths, clocks=clocks,
            on_round=on_round, plugins=plugins, fresh=fresh, services=services))
        try:
            yield AsyncHost(embedded, executor)
        finally:
            await loop.run_in_executor(executor, embedded.close)
    finally:
        executor.shutdown(wait=False)


def _start(config: Path | str | None, db: Path | str | None, **kwargs: Any) -> EmbeddedHost:
    host = build_host(config, db, kwargs.pop("paths"), kwargs.pop("clocks"),
                      kwargs.pop("plugins"), kwargs.pop("fresh"))
    return EmbeddedHost.start(host, **kwargs)
