"""Helpers for testing Zepix plugins: the public face of the author kit.

Everything a plugin's tests need comes from here (or from ``zepix_core``):

- :class:`PluginConformance`: the conformance suite as a base class::

      from zepix_core.testing import PluginConformance

      class TestMine(PluginConformance):
          plugin_id = "mine"

- :class:`FakeClock`, :func:`make_host`, :class:`PluginLoader`, :func:`load_installed`,
  :func:`load_instance`: time that moves when told, a host on a temporary database,
  loading a plugin;
- :class:`PluginSpec`: the hook specifications, for a plugin manager of your own;
- :class:`MarketReplay` and :func:`make_bar`: seeded market bars and single bars.

The pytest plugin ``zepix`` (installed with zepix-core) wraps these as the fixtures
``zepix_clock``, ``zepix_host``, ``zepix_make_host`` and ``zepix_load``, and adds
``pytest --zepix-plugin ID``.
"""

from __future__ import annotations

from zepix_core.authoring.testing import (
    CHECK_NAMES,
    CheckResult,
    FakeClock,
    Finding,
    PluginConformance,
    PluginHandle,
    PluginLoader,
    check_plugin,
    enforce,
    load_installed,
    load_instance,
    make_host,
)
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.contract.model import Bar
from zepix_core.market.replay import MarketReplay


def make_bar(close: float, *, symbol: str = "EURUSD", timeframe: str = "1m", ts: float = 0.0,
             open: float | None = None, high: float | None = None,
             low: float | None = None, volume: float = 1.0) -> Bar:
    """One bar for a test: ``open`` defaults to ``close``, ``high``/``low`` to their extremes."""
    first = close if open is None else open
    return Bar(symbol=symbol, timeframe=timeframe, ts=ts, open=first,
               high=max(first, close) if high is None else high,
               low=min(first, close) if low is None else low, close=close, volume=volume)


__all__ = [
    "CHECK_NAMES", "Bar", "CheckResult", "FakeClock", "Finding", "MarketReplay",
    "PluginConformance", "PluginHandle", "PluginLoader", "PluginSpec", "check_plugin",
    "enforce", "load_installed", "load_instance", "make_bar", "make_host",
]
