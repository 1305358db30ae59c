"""``execution.direct``: a plain ``on_bar`` is called without pluggy's machinery with
the same results and the same error text; anything else keeps pluggy's call."""

from __future__ import annotations

from collections.abc import Generator

import pluggy

from zepix_core import Bar, hookimpl
from zepix_core.contract.errors import describe_hook
from zepix_core.contract.hookspecs import PluginSpec
from zepix_core.execution.direct import direct
from zepix_core.testing import make_bar

BARS = [make_bar(0.5 + i / 4, ts=60.0 * (i + 1)) for i in range(8)]


class Plain:
    @hookimpl
    def on_bar(self, bar: Bar) -> list[dict[str, object]] | None:
        if bar.close < 1.0:
            return None
        return [{"symbol": bar.symbol, "side": "buy", "quantity": bar.close}]


class Raises:
    @hookimpl
    def on_bar(self, bar: Bar) -> None:
        raise ValueError(f"no bar at {bar.ts}")


class PositionalOnly:
    @hookimpl
    def on_bar(self, bar: Bar, /) -> list[dict[str, object]]:
        return [{"symbol": bar.symbol, "side": "sell", "quantity": 1}]


class NoArguments:
    @hookimpl
    def on_bar(self) -> list[dict[str, object]]:
        return [{"symbol": "X", "side": "sell", "quantity": 1}]


class Wraps:
    @hookimpl(wrapper=True)
    def on_bar(self, bar: Bar) -> Generator[None, object, object]:
        found = yield
        return [] if found is None else found


def _caller(*plugins: object) -> pluggy.HookCaller:
    pm = pluggy.PluginManager("zepix")
    pm.add_hookspecs(PluginSpec)
    for plugin in plugins:
        pm.register(plugin)
    return pm.hook.on_bar


def _outcome(call: object, bar: Bar) -> object:
    try:
        return call(bar=bar)  # type: ignore[operator]
    except ValueError as exc:
        return describe_hook(exc)


def test_a_plain_on_bar_is_called_directly_with_pluggys_results_and_errors() -> None:
    for plugin in (Plain(), Raises()):
        caller = _caller(plugin)
        call = direct(caller, ("bar",))
        assert call is not caller
        assert [_outcome(call, b) for b in BARS] == [_outcome(caller, b) for b in BARS]
    assert any(_outcome(direct(_caller(Plain()), ("bar",)), b) is None for b in BARS)


def test_anything_else_keeps_pluggys_call() -> None:
    for plugins in ((PositionalOnly(),), (NoArguments(),), (Plain(), Wraps()),
                    (Plain(), Plain()), ()):
        caller = _caller(*plugins)
        assert direct(caller, ("bar",)) is caller
    plain = _caller(Plain())
    assert direct(plain, ("bar", "other")) is plain
    assert _outcome(_caller(PositionalOnly()), BARS[0]) == [
        {"symbol": BARS[0].symbol, "side": "sell", "quantity": 1}]
