"""Property: whatever a plugin's hooks return or raise, the host goes on (issue 10, item 9).

One ``chaos`` plugin answers every hook with a value built from a recipe that
hypothesis draws: nested and shared structures, odd key types, non-finite
numbers, huge strings, objects whose dunder methods raise, and exceptions
(``SystemExit`` and one whose ``__str__`` raises among them). The recipe is a
pickle file the plugin reads at each call, so the same plugin runs in process
and in a worker process. For every example: ``work`` and ``round`` never
raise, the snapshot and every ``--json`` output are strict JSON, and the
plugin's status or state carries a reason whenever it is not HEALTHY/ACTIVE.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.distfactory import DistFactory
from zepix_core import PluginState
from zepix_core.cli.main import main
from zepix_core.host.host import Host, create_host

CHAOS = '''
import os, pickle
from zepix_core import hookimpl

RECIPES = os.environ["ZEPIX_CHAOS_FILE"]
GOOD = {"plugin_version": "1.0.0", "health_ping": True, "get_metrics": {},
        "self_test": True, "on_bar": None}


class Boom(Exception):
    def __str__(self):
        raise RuntimeError("str of an exception")


class Dunder:
    def _no(self, *args):
        raise ValueError("dunder")
    __eq__ = __hash__ = __repr__ = __str__ = __iter__ = __len__ = __float__ = _no
    __index__ = __bool__ = __getattr__ = _no


class EvilDict(dict):
    def items(self):
        raise ValueError("items")

    def __iter__(self):
        raise ValueError("iter")


class EvilStr(str):
    def __str__(self):
        raise ValueError("str")


def build(recipe):
    if isinstance(recipe, tuple) and recipe[:1] == ("!",):
        kind = recipe[1]
        if kind == "raise":
            raise Boom()
        if kind == "exit":
            raise SystemExit(7)
        if kind == "dunder":
            return Dunder()
        if kind == "evildict":
            return EvilDict(a=1)
        if kind == "evilstr":
            return EvilStr("text")
        if kind == "shared":
            shared = []
            for _ in range(recipe[2]):
                shared = [shared, shared]
            return shared
        return "x" * recipe[2]  # huge
    if isinstance(recipe, list):
        return [build(item) for item in recipe]
    if isinstance(recipe, dict):
        return {key: build(value) for key, value in recipe.items()}
    return recipe


def answer(hook):
    try:
        with open(RECIPES, "rb") as f:
            recipes = pickle.load(f)
    except FileNotFoundError:
        recipes = {}
    if hook not in recipes:
        return GOOD[hook]
    return build(recipes[hook])


class Plugin:
    @hookimpl
    def plugin_version(self):
        return answer("plugin_version")

    @hookimpl
    def health_ping(self, now):
        return answer("health_ping")

    @hookimpl
    def get_metrics(self):
        return answer("get_metrics")

    @hookimpl
    def self_test(self):
        return answer("self_test")

    @hookimpl
    def on_bar(self, bar):
        return answer("on_bar")
'''

CONFIG = """
[host]
bars_per_round = 1
warmup_bars = 0
self_test_every = 1

[plugins.chaos]
isolation = "{isolation}"
max_restarts = 1000
restart_intensity = 1000
restart_backoff = 0.001
"""

HOOKS = ("plugin_version", "health_ping", "get_metrics", "self_test", "on_bar")
MARKERS = st.one_of(
    st.sampled_from([("!", "raise"), ("!", "exit"), ("!", "dunder"), ("!", "evildict"),
                     ("!", "evilstr")]),
    st.tuples(st.just("!"), st.just("shared"), st.integers(12, 60)),
    st.tuples(st.just("!"), st.just("huge"), st.integers(60_000, 3_000_000)),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(),
    st.text(max_size=12), MARKERS)
KEYS = st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.none(), st.booleans(),
                 st.tuples(st.integers()))
VALUES = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(KEYS, kids, max_size=4)), max_leaves=10)
PINGS = st.fixed_dictionaries({"ok": st.one_of(st.booleans(), VALUES)}, optional={
    "last_activity": st.one_of(st.floats(), st.integers(-(2**70), 2**70)), "detail": VALUES})
RECIPES = st.dictionaries(st.sampled_from(HOOKS), st.one_of(VALUES, PINGS), max_size=5)


def strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


class Chaos:
    def __init__(self, host: Host, recipes: Path, db: Path) -> None:
        self.host, self.recipes, self.db = host, recipes, db

    def check(self, recipe: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
        self.recipes.write_bytes(pickle.dumps(recipe))
        self.host.work()
        self.host.round()
        capsys.readouterr()
        assert main(["health", "--json", "--db", str(self.db)]) == 0
        snapshots = strict(capsys.readouterr().out)
        slot = self.host.slots["chaos"]
        if slot.state is not PluginState.ACTIVE:
            assert slot.reason, f"{slot.state} without a reason"
            return
        [snap] = [s for s in snapshots if s["plugin_id"] == "chaos"]
        if snap["status"] != "HEALTHY":
            assert snap["reasons"], f"{snap['status']} without a reason"
        if recipe and snap["status"] == "HEALTHY":  # a hostile answer left its trace
            assert any(e["last_message"] for e in snap["hook_errors"].values()) or all(
                _harmless(hook, value) for hook, value in recipe.items()), snap


def _harmless(hook: str, value: Any) -> bool:
    """Answers the contract allows (which need leave no trace)."""
    return (hook == "on_bar" and value is None) or (hook in ("health_ping", "self_test")
                                                    and value is True)


@pytest.fixture(params=["inprocess", "process"])
def chaos(request: pytest.FixtureRequest, dists: DistFactory, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Chaos]:
    recipes = tmp_path / "recipes.pickle"
    monkeypatch.setenv("ZEPIX_CHAOS_FILE", str(recipes))
    dists.add("zepix-chaos", "1.0.0", {"chaos": "chaos_mod:Plugin"}, {"chaos_mod": CHAOS})
    config = tmp_path / "zepix.toml"
    config.write_text(CONFIG.format(isolation=request.param), encoding="utf-8")
    db = tmp_path / "zepix.db"
    host = create_host(config, db, paths=[str(dists.root)])
    host.store.defer_writes = True
    host.start()
    assert host.slots["chaos"].state is PluginState.ACTIVE, host.slots["chaos"].reason
    try:
        yield Chaos(host, recipes, db)
    finally:
        host.shutdown()


@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(recipe=RECIPES)
def test_any_answer_leaves_the_host_running_and_its_output_strict(
        chaos: Chaos, capsys: pytest.CaptureFixture[str], recipe: dict[str, Any]) -> None:
    chaos.check(recipe, capsys)


def test_plugins_and_self_test_json_stay_strict_with_a_hostile_plugin(
        chaos: Chaos, capsys: pytest.CaptureFixture[str]) -> None:
    chaos.recipes.write_bytes(pickle.dumps({
        "plugin_version": {"version": "1.0.0", "features": True},
        "self_test": {"passed": True, "checks": [{"name": float("nan"),
                                                  "passed": ("!", "dunder")}]},
    }))
    capsys.readouterr()
    db, config = str(chaos.db), str(chaos.db.parent / "zepix.toml")
    assert main(["plugins", "--json", "--db", db, "--config", config]) == 0
    [row] = [r for r in strict(capsys.readouterr().out) if r["id"] == "chaos"]
    assert row["state"] == "REJECTED" and "features must be a list" in row["reason"]
    chaos.recipes.write_bytes(pickle.dumps({"self_test": ("!", "raise")}))
    assert main(["self-test", "--json", "--db", db, "--config", config]) == 1
    [test] = [t for t in strict(capsys.readouterr().out) if t["plugin_id"] == "chaos"]
    assert test["passed"] is False and "Boom" in test["detail"]
