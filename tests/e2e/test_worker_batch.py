"""A feed's bars to a worker process in one frame (issue 26, item 3): the same
answers and intents as bar by bar, a hung or dying worker mid-batch accounted for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, plugin_with
from tests.waiting import wait_until
from zepix_core.contract.model import Bar, Intent
from zepix_core.execution.dispatch import Dispatcher
from zepix_core.execution.runner import CallResult, call
from zepix_core.execution.worker import ProcessRunner
from zepix_core.execution.workerbatch import collect
from zepix_core.loading.discovery import EntryRecord, enumerate_plugins
from zepix_core.testing import make_bar

STRATEGY = plugin_with(header="import os, pathlib, time\n", on_bar="""
    with open(os.environ.get("SEEN_FILE", os.devnull), "a") as out:
        out.write(f"{bar.ts:.0f}\\n")
    if bar.ts == 60.0 * DIE:
        os._exit(3)
    gate = pathlib.Path(GATE)
    if bar.ts == 60.0 * HANG:
        while not gate.exists():
            time.sleep(0.01)
    if self.bars % 4 == 0:
        raise ValueError(f"no view on bar {self.bars}")
    if self.bars % 3 == 0:
        return [{"symbol": bar.symbol, "side": "buy", "quantity": self.bars}]
    return None
""")


def install(dists: DistFactory, name: str, *, die: int = -1, hang: int = -1,
            gate: str = "/nonexistent") -> EntryRecord:
    source = STRATEGY.replace("DIE", str(die)).replace("HANG", str(hang)).replace(
        "GATE", repr(gate))
    dists.add(f"zepix-{name}", "1.0.0", {name: f"{name}_mod:Plugin"}, {f"{name}_mod": source})
    [record] = [r for r in enumerate_plugins([str(dists.root)]) if r.plugin_id == name]
    return record


def bars(count: int) -> list[Bar]:
    return [make_bar(100.0 + n, ts=60.0 * n) for n in range(1, count + 1)]


@pytest.fixture
def start(dists: DistFactory) -> Iterator[list[ProcessRunner]]:
    made: list[ProcessRunner] = []
    yield made
    for runner in made:
        runner.close(timeout=0.5)


def runner_for(record: EntryRecord, dists: DistFactory, made: list[ProcessRunner]
               ) -> ProcessRunner:
    runner = ProcessRunner(record, extra_paths=[str(dists.root)])
    made.append(runner)
    return runner


def answers(results: list[CallResult]) -> list[tuple[object, str | None]]:
    return [(r.value, r.error) for r in results]


def test_a_batch_answers_as_the_same_calls_one_by_one(
        dists: DistFactory, start: list[ProcessRunner]) -> None:
    record = install(dists, "strategy")
    feed = bars(13)
    one_by_one = runner_for(record, dists, start)
    expected = [call(one_by_one, "on_bar", 20.0, {"bar": bar}) for bar in feed]
    batched = runner_for(record, dists, start)
    got = collect(batched, batched.ask_batch("on_bar", [{"bar": b} for b in feed], 20.0), 20.0)
    assert answers(got) == answers(expected)
    assert (got[3].error or "").startswith("ValueError: no view on bar 4 (at ")
    assert got[2].value == [{"symbol": feed[2].symbol, "side": "buy", "quantity": 3}]
    assert not batched.busy()


def test_a_dispatched_feed_gives_the_intents_of_bar_by_bar_in_order(
        dists: DistFactory, start: list[ProcessRunner]) -> None:
    record = install(dists, "strategy")
    feed = bars(13)

    def dispatcher(results: list[CallResult]) -> Dispatcher:
        return Dispatcher(lambda result, problem: results.append(result), deadline=20.0)

    single: list[CallResult] = []
    by_bar = dispatcher(single)
    alone = [runner_for(record, dists, start)]
    expected: list[list[Intent]] = [list(by_bar.feed_by_bar(alone, [bar])[0]) for bar in feed]
    batched: list[CallResult] = []
    got = dispatcher(batched).feed_by_bar([runner_for(record, dists, start)], feed)
    assert [list(i) for i in got] == expected
    assert sum(len(i) for i in got) == 3  # bars 3, 6 and 9 (12 raised)
    assert answers(batched) == answers(single)


def test_a_worker_dying_mid_batch_is_reported_for_that_bar_and_every_later_one(
        dists: DistFactory, start: list[ProcessRunner]) -> None:
    record = install(dists, "mortal", die=5)
    runner = runner_for(record, dists, start)
    feed = bars(9)
    got = collect(runner, runner.ask_batch("on_bar", [{"bar": b} for b in feed], 20.0), 20.0)
    assert len(got) == len(feed)  # every bar accounted for
    assert [r.ok for r in got[:3]] == [True, True, True]
    assert (got[3].error or "").startswith("ValueError: no view on bar 4 (at ")
    for result in got[4:]:
        assert result.error is not None and "exited with code 3" in result.error, result
    assert not runner.alive()


def test_a_call_hung_mid_batch_times_out_and_the_plugin_sees_no_later_bar(
        dists: DistFactory, start: list[ProcessRunner], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate, seen = tmp_path / "gate", tmp_path / "seen"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    record = install(dists, "hanger", hang=3, gate=str(gate))
    runner = runner_for(record, dists, start)
    feed = bars(8)
    got = collect(runner, runner.ask_batch("on_bar", [{"bar": b} for b in feed], 0.5), 0.5)
    assert [r.ok for r in got[:2]] == [True, True]
    assert len(got) == 3 and got[2].timed_out
    gate.touch()  # the hung call returns past its deadline: the worker ends the batch there
    wait_until(lambda: not runner.busy(), waiting_for="the batch to end in the worker")
    assert seen.read_text().split() == ["60", "120", "180"]
    again = call(runner, "health_ping", 20.0, {"now": 1.0})
    assert again.ok, again


FORGER = plugin_with(header="import os, pickle, struct, sys, time\n", on_bar="""
    if bar.ts == 120.0:  # the batch is call 1; its answer #1 forged out of order
        blob = pickle.dumps(("item", 1, 3, True, None, 0.0, False))
        fd = int(sys.argv[sys.argv.index("--fd") + 1])
        os.write(fd, struct.pack("!I", len(blob)) + blob)
        time.sleep(30)
    return None
""")


def test_a_forged_answer_in_a_batch_gets_the_worker_killed_with_the_reason(
        dists: DistFactory, start: list[ProcessRunner]) -> None:
    dists.add("zepix-forger", "1.0.0", {"forger": "forger_mod:Plugin"}, {"forger_mod": FORGER})
    [record] = [r for r in enumerate_plugins([str(dists.root)]) if r.plugin_id == "forger"]
    runner = runner_for(record, dists, start)
    feed = bars(4)
    got = collect(runner, runner.ask_batch("on_bar", [{"bar": b} for b in feed], 20.0), 20.0)
    assert runner.wait_exited(20.0)
    assert len(got) == len(feed) and got[0].ok
    for result in got[1:]:
        assert result.error is not None and "PluginDead" in result.error, result
    description = runner.exit_description or ""
    assert "killed by SIGKILL" in description
    assert "a malformed item message (index 3 of 1 read)" in description
