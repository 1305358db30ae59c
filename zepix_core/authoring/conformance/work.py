"""Checks of the plugin at work and across its lifecycle: bars, activate and deactivate, leaks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from zepix_core.authoring.conformance.leaks import leaks_after
from zepix_core.authoring.conformance.subject import Blocked, Finding, Subject, call_problem, show
from zepix_core.authoring.harness import PluginHandle
from zepix_core.contract.errors import PluginError
from zepix_core.contract.hookspecs import DEFAULT_DEADLINES
from zepix_core.contract.model import Bar, Fill
from zepix_core.execution.dispatch import parse_intents
from zepix_core.execution.runner import CallResult
from zepix_core.health.shapes import parse_ping
from zepix_core.market.replay import MarketReplay


def replay_bars(steps: int) -> Iterator[Bar]:
    """``steps`` minutes of the bundled seeded market replay: 1m bars and every aggregate."""
    replay = MarketReplay()
    for _ in range(steps):
        yield from replay.next_bars()


_INTENT_SHAPE = ("None or a list of intents {'symbol', 'side' ('buy' or 'sell'), 'quantity' "
                 "(> 0), optional 'price' and 'reason'}")


def check_on_bar(subject: Subject) -> list[Finding]:
    handle = subject.activated()
    if not handle.implements("on_bar"):
        raise Blocked("on_bar is optional and this plugin does not implement it")
    for count, bar in enumerate(replay_bars(60), 1):
        where = f"bar #{count} ({bar.symbol} {bar.timeframe})"
        result = handle.call("on_bar", bar=bar)
        problem = call_problem(result, _INTENT_SHAPE, f"keep on_bar under "
                               f"{DEFAULT_DEADLINES['on_bar']:g} s; move heavy work to a "
                               "thread the plugin stops in deactivate")
        if problem is not None:
            return [Finding("on_bar", problem.expected, f"{problem.got} at {where}", problem.fix)]
        try:
            parse_intents(subject.plugin_id, bar, result.value)
        except PluginError as exc:
            return [Finding("on_bar", _INTENT_SHAPE, f"{show(result.value)} at {where} ({exc})",
                            "return None, or a list of dicts such as {'symbol': bar.symbol, "
                            "'side': 'buy', 'quantity': 1.0}")]
    return []


def check_on_fill(subject: Subject) -> list[Finding]:
    """A fill of the plugin's own first intent (or a made-up one when it gives none)
    is taken in time and without raising."""
    handle = subject.activated()
    if not handle.implements("on_fill"):
        raise Blocked("on_fill is optional and this plugin does not implement it")
    fill = Fill(intent_id="conformance-1", quantity=1.0, price=100.0, time=0.0)
    if handle.implements("on_bar"):
        for bar in replay_bars(120):
            result = handle.call("on_bar", bar=bar)
            try:
                intents = parse_intents(subject.plugin_id, bar, result.value) if result.ok else []
            except PluginError:
                intents = []
            if intents:
                fill = Fill(intent_id="conformance-1", quantity=intents[0].quantity,
                            price=intents[0].price or bar.close, time=bar.ts)
                break
    result = handle.call("on_fill", fill=fill)
    problem = call_problem(result, "None, within the deadline", f"keep on_fill under "
                           f"{DEFAULT_DEADLINES['on_fill']:g} s and let it not raise on a "
                           "fill it does not expect")
    if problem is not None:
        return [Finding("on_fill", problem.expected, problem.got, problem.fix)]
    return []


def check_config_changed(subject: Subject) -> list[Finding]:
    """An empty change set is answered with true or false, in time, without raising."""
    handle = subject.activated()
    if not handle.implements("config_changed"):
        raise Blocked("config_changed is optional and this plugin does not implement it")
    result = handle.call("config_changed", changes={})
    expected = "true (applied live) or false (restart me), within the deadline"
    problem = call_problem(result, expected, "keep config_changed under "
                           f"{DEFAULT_DEADLINES['config_changed']:g} s: store the new values, "
                           "do not reconnect or recompute inside it")
    if problem is not None:
        return [Finding("config_changed", problem.expected, problem.got, problem.fix)]
    if not isinstance(result.value, bool):
        return [Finding("config_changed", expected, show(result.value),
                        "return True when the new values are in force, else False")]
    return []


def check_plugin_restarted(subject: Subject) -> list[Finding]:
    """A restart notice is taken in time, without raising (the hook is optional)."""
    handle = subject.activated()
    if not handle.implements("plugin_restarted"):
        raise Blocked("plugin_restarted is optional and this plugin does not implement it")
    result = handle.call("plugin_restarted", reason="operator restart (conformance check)",
                         restarts=1)
    problem = call_problem(result, "None, within the deadline", "keep plugin_restarted under "
                           f"{DEFAULT_DEADLINES['plugin_restarted']:g} s and let it not raise: "
                           "note the reason, do the work later")
    if problem is not None:
        return [Finding("plugin_restarted", problem.expected, problem.got, problem.fix)]
    return []


_RESTART_FIX = ("let activate reset what deactivate leaves behind (flags, counters, "
                "handles), so the plugin can start again")


def _step(result: CallResult, step: str) -> Finding | None:
    problem = call_problem(result, f"success on {step}", "keep activate's set-up and "
                           "deactivate's release short")
    if problem is None:
        return None
    return Finding(problem.hook, problem.expected, problem.got, f"{problem.fix}; {_RESTART_FIX}")


def _ping(handle: PluginHandle) -> tuple[bool, object]:
    result = handle.call("health_ping", now=time.time())
    return result.ok and parse_ping(result.value).ok, result.value


def check_lifecycle(subject: Subject) -> list[Finding]:
    handle, data = subject.load(), subject.data_dir()
    problem = _step(handle.activate(data), "the first activate")
    if problem is not None:
        return [problem]
    fresh_ok, _ = _ping(handle)  # the health_ping check judges this answer itself
    restart: list[tuple[str, Callable[[], CallResult]]] = [
        ("deactivate", lambda: handle.deactivate("restart")),
        ("activate after deactivate", lambda: handle.activate(data)),
    ]
    for step, run in restart:
        problem = _step(run(), step)
        if problem is not None:
            return [problem]
    again_ok, value = _ping(handle) if fresh_ok else (False, None)
    if fresh_ok and not again_ok:
        return [Finding("health_ping", "ok after activate, deactivate, activate, as after the "
                        "first activate", show(value), _RESTART_FIX)]
    problem = _step(handle.deactivate("shutdown"), "the second deactivate")
    return [] if problem is None else [problem]


def check_no_leaks(subject: Subject) -> list[Finding]:
    handle = subject.load()
    handle.call("plugin_version")  # starts the runner's own thread before the baseline
    bars = list(replay_bars(10)) if handle.implements("on_bar") else []

    def cycle() -> None:
        handle.activate(subject.data_dir())
        for bar in bars:
            handle.call("on_bar", bar=bar)
        handle.deactivate("shutdown")

    return [Finding("deactivate", f"nothing left behind after deactivate ({kind})", got, fix)
            for kind, got, fix in leaks_after(cycle, settle=subject.settle)]
