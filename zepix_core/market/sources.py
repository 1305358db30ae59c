"""Market sources: where ``zepix run`` gets its bars. Plugins of the host itself.

A source is an entry point in the group ``zepix.sources``; its name is what
``zepix run --source NAME`` and ``[market] source`` choose. The entry point's
object is called with the source's options (a mapping: the ``[market]``
table's other keys, then every ``--source-option KEY=VALUE``, values as
strings from the command line) and returns a ``Source``. Bundled: ``replay``
(the default) and ``csv``. docs/sources.md shows how to write one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from zepix_core.contract.errors import ConfigError
from zepix_core.contract.model import Bar
from zepix_core.market.replay import MarketReplay

GROUP = "zepix.sources"


class Source(Protocol):
    """Yields closed bars in batches, oldest first, until exhausted or ``stop`` is set.

    A batch is whatever the source has at hand: the bars closing at one instant
    of a live feed, or a run of rows of a file. A source waits for data with
    ``stop.wait(...)`` so that the host can end it at once; it raises
    ``ZepixError`` with a one-line message for data it cannot go on with.
    """

    def batches(self, stop: threading.Event) -> Iterator[Sequence[Bar]]: ...


SourceFactory = Callable[[Mapping[str, object]], Source]


class Options:
    """A source's options with typed reads; every error names the source and the key."""

    def __init__(self, source: str, values: Mapping[str, Any]) -> None:
        self.source = source
        self.values = dict(values)
        self.used: set[str] = set()

    def _fail(self, key: str, value: object, want: str) -> ConfigError:
        return ConfigError(f"source {self.source}: option {key}={value!r}; expected {want}")

    def text(self, key: str, default: str | None = None) -> str | None:
        self.used.add(key)
        value = self.values.get(key, default)
        return None if value is None else str(value)

    def number(self, key: str, default: float) -> float:
        self.used.add(key)
        value = self.values.get(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._fail(key, value, "a number") from None
        if number < 0:
            raise self._fail(key, value, "a number >= 0")
        return number

    def whole(self, key: str, default: int | None) -> int | None:
        self.used.add(key)
        value = self.values.get(key, default)
        if value is None:
            return None
        try:
            return int(str(value)) if not isinstance(value, int) else value
        except ValueError:
            raise self._fail(key, value, "a whole number") from None

    def names(self, key: str, default: Sequence[str]) -> list[str]:
        self.used.add(key)
        value = self.values.get(key, default)
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise self._fail(key, value, "a comma-separated list of names")

    def choice(self, key: str, default: str, allowed: Sequence[str]) -> str:
        value = self.text(key, default)
        if value is None or value not in allowed:
            raise self._fail(key, value, f"one of {', '.join(allowed)}")
        return value

    def done(self) -> None:
        """Refuse options the source does not know (a typo would pass silently)."""
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            raise ConfigError(f"source {self.source}: unknown option(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(self.used))}")


class ReplaySource:
    """The seeded replay (``MarketReplay``) as a source, paced like a live feed.

    Options: ``symbols`` (comma-separated), ``seed``, ``warmup`` (1m steps
    yielded at once as the first batch), ``pace`` (real seconds between
    later steps; 0 means as fast as the host takes them) and ``steps`` (stop
    after this many later steps; unset: endless).
    """

    def __init__(self, options: Mapping[str, object]) -> None:
        opts = Options("replay", options)
        self.replay = MarketReplay(symbols=opts.names("symbols", ("BTCUSD", "ETHUSD")),
                                   seed=opts.whole("seed", 7) or 0)
        self.warmup = opts.whole("warmup", 0) or 0
        self.pace = opts.number("pace", 0.0)
        self.steps = opts.whole("steps", None)
        opts.done()

    def batches(self, stop: threading.Event) -> Iterator[Sequence[Bar]]:
        if self.warmup:
            yield [bar for _ in range(self.warmup) for bar in self.replay.next_bars()]
        count = 0
        while self.steps is None or count < self.steps:
            if self.pace and count and stop.wait(self.pace):
                return
            if stop.is_set():
                return
            count += 1
            yield self.replay.next_bars()
