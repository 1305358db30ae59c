"""The boundary where plugin code and plugin values meet the host (issue 10, items 1-3).

Each test names the defect it would have caught. Plugins are real dist-info
distributions on a temporary path, loaded in process and in worker processes.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.waiting import wait_until
from zepix_core import PluginState
from zepix_core.cli.render import emit_json, iso
from zepix_core.contract.errors import PluginError, WrongShape, describe
from zepix_core.execution.boundary import LIMITS, plain
from zepix_core.execution.runner import InProcessRunner, call
from zepix_core.execution.worker import ProcessRunner
from zepix_core.health.shapes import parse_ping
from zepix_core.host.host import create_host
from zepix_core.loading.discovery import enumerate_plugins, load_plugin
from zepix_core.loading.resolution import parse_meta


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class Hostile:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        return 1

    def __repr__(self) -> str:
        raise RuntimeError("repr")


def chain(levels: int) -> list[object]:
    deep: list[object] = []
    for _ in range(levels):
        deep = [deep]
    return deep


def exponential(levels: int) -> list[object]:
    shared: list[object] = []
    for _ in range(levels):
        shared = [shared, shared]
    return shared


# -- plain: the conversion itself ------------------------------------------
@pytest.mark.parametrize(("value", "why"), [
    ({"x": float("nan")}, "not a finite number"),
    ({"x": [1, float("inf")]}, "not a finite number"),
    ({Hostile(): 1}, "Hostile is not plain data"),
    ([Hostile()], "Hostile is not plain data"),
    ("x" * (LIMITS.string + 1), "exceeds"),
    (10**40, "too large"),
    (chain(40), "nested deeper"),
    ([exponential(20)] * 3, "more than"),
    ({(1, 2): "tuple key"}, "key of type tuple"),
    ({1, 2}, "set is not plain data"),
])
def test_plain_refuses_what_is_not_plain_and_bounded(value: object, why: str) -> None:
    with pytest.raises(WrongShape, match=why):
        plain(value)


def test_plain_keeps_plain_data_and_drops_subclass_behaviour() -> None:
    class Loud(str):
        def __str__(self) -> str:
            raise RuntimeError("never called")

    class Items(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("never called")

    value = plain({"a": [1, (2, 3.5)], 2: None, "s": Loud("text"), "d": Items(k=True)})
    assert value == {"a": [1, [2, 3.5]], 2: None, "s": "text", "d": {"k": True}}
    assert type(value["s"]) is str and type(value["d"]) is dict


def test_describe_survives_an_exception_whose_str_raises() -> None:
    # Defect: health_ping raising such an exception ended the run loop in describe().
    assert describe(Unprintable()) == "Unprintable: <str() of the exception raised>"
    assert len(describe(ValueError("x" * 10_000))) < 600


# -- plugin values read by the host ------------------------------------------
def test_features_true_is_a_plugin_error_not_a_type_error() -> None:
    # Defect: {"version": "1.0.0", "features": True} crashed startup in _features.
    with pytest.raises(PluginError, match="features must be a list of strings"):
        parse_meta({"version": "1.0.0", "features": True})


def test_odd_key_types_in_plugin_version_are_a_plugin_error() -> None:
    # Defect: parse_meta raised TypeError (sorting mixed key types).
    with pytest.raises(PluginError, match="unknown key"):
        parse_meta(plain({"version": "1.0.0", 1: "x", None: 2, 2.5: 3}))
    with pytest.raises(PluginError, match="requires must be a mapping"):
        parse_meta({"version": "1.0.0", "requires": {1: ">=1"}})


def test_last_activity_in_milliseconds_is_a_wrong_shape() -> None:
    # Defect: time.time() * 1000 was taken as HEALTHY.
    now = 1_800_000_000.0
    reply = parse_ping({"ok": True, "last_activity": now * 1000}, now)
    assert reply.problems and reply.last_activity is None
    assert "in the future" in reply.problems[0] and "milliseconds" in reply.problems[0]
    early = parse_ping({"ok": True, "last_activity": 5.0}, now)
    assert "before 2000" in early.problems[0]
    assert not parse_ping({"ok": True, "last_activity": now + 30}, now).problems


def test_json_output_never_holds_nan_and_survives_any_time() -> None:
    # Defect: `zepix health --json` crashed with "year 58883 is out of range".
    assert iso(1_800_000_000_000.0) is None
    assert iso(float("nan")) is None
    out = _Buffer()
    emit_json([{"timestamp": 1e15, "x": math.inf, "y": float("nan"), "ok": 1.5}], out)
    assert json.loads(out.text, parse_constant=_refuse) == [
        {"timestamp": None, "x": None, "y": None, "ok": 1.5}]


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


def _refuse(name: str) -> None:
    raise AssertionError(f"non-strict JSON constant {name}")


# -- in process ----------------------------------------------------------------
PING_BODY = '''
import math, sys

class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text")

class Plugin(Base):
    mode = "raise"

    @hookimpl
    def health_ping(self, now):
        print("a plugin talking on stdout")
        if self.mode == "raise":
            raise Unprintable()
        if self.mode == "exit":
            sys.exit(4)
        if self.mode == "nan":
            return {"ok": True, "detail": "x", "last_activity": math.nan}
        shared = []
        for _ in range(24):
            shared = [shared, shared, shared]
        return {"ok": True, "detail": shared}
'''


def _hostile_module() -> str:
    return good_plugin(class_name="Base") + textwrap.dedent(PING_BODY)


def _record(dists: DistFactory, name: str, source: str):  # type: ignore[no-untyped-def]
    dists.add(f"zepix-{name.replace('_', '-')}", "1.0.0", {name: f"{name}_mod:Plugin"},
              {f"{name}_mod": source})
    [rec] = [r for r in enumerate_plugins([str(dists.root)]) if r.plugin_id == name]
    return rec


@pytest.mark.parametrize(("mode", "error"), [
    ("raise", "RemoteError"),  # the exception whose __str__ raises
    ("exit", "RemoteError"),   # SystemExit inside a hook
    ("nan", "WrongShape"),
    ("shared", "WrongShape"),  # 3**24 leaves in a few hundred bytes of references
])
def test_in_process_hooks_give_errors_never_exceptions(
        dists: DistFactory, mode: str, error: str) -> None:
    record = _record(dists, f"hostile_{mode}", _hostile_module())
    pm = load_plugin(record)
    pm.get_plugins().pop().mode = mode
    runner = InProcessRunner(record.plugin_id, pm)
    try:
        result = call(runner, "health_ping", 5.0, {"now": 0.0})
    finally:
        runner.close()
    assert not result.ok and not result.timed_out
    messages = {"raise": "Unprintable: <str()", "exit": "SystemExit: 4",
                "nan": "not a finite number", "shared": "more than"}
    assert messages[mode] in (result.error or "")
    assert result.value is None


def test_sys_exit_while_imported_is_a_failed_plugin(dists: DistFactory, tmp_path: Path) -> None:
    # Defect: a module calling sys.exit(3) at import ended `zepix run` with status 3.
    dists.add("zepix-quitter", "1.0.0", {"quitter": "quitter_mod:Plugin"},
              {"quitter_mod": "import sys\nsys.exit(3)\n"})
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    host = create_host(None, tmp_path / "z.db", paths=[str(dists.root)])
    try:
        slots = {s.plugin_id: s for s in host.discover()}
    finally:
        host.release()
    assert slots["quitter"].state is PluginState.FAILED
    assert "SystemExit: 3" in (slots["quitter"].reason or "")
    assert slots["good"].state is PluginState.DISCOVERED


# -- worker processes ----------------------------------------------------------
SOCKET_WRITER = '''
import os, pickle, struct, sys

def _fd():
    return int(sys.argv[sys.argv.index("--fd") + 1])

class Plugin(Base):
    @hookimpl
    def health_ping(self, now):
        if now == 1:  # a header announcing 4 GiB
            os.write(_fd(), b"\\xff\\xff\\xff\\xff")
        elif now == 2:  # a tiny pickle of shared references, exponential when walked
            shared = []
            for _ in range(30):
                shared = [shared, shared]
            blob = pickle.dumps(("ok", 1, shared))
            os.write(_fd(), struct.pack("!I", len(blob)) + blob)
        import time
        time.sleep(30)
'''


@pytest.mark.parametrize(("now", "why"), [
    (1, "a frame of 4294967295 bytes exceeds the limit"),
    (2, "more than 20000 values"),
])
def test_a_worker_that_breaks_the_frame_limits_is_killed_with_the_reason(
        dists: DistFactory, now: int, why: str) -> None:
    # Defects: no frame size limit (8 GiB allocation); an exponential pickle stalled a round.
    record = _record(dists, f"writer_{now}",
                     good_plugin(class_name="Base") + textwrap.dedent(SOCKET_WRITER))
    runner = ProcessRunner(record, extra_paths=[str(dists.root)], max_frame=1 << 20)
    try:
        result = call(runner, "health_ping", 20.0, {"now": float(now)})
        assert runner.wait_exited(20.0)
    finally:
        runner.close(timeout=0.5)
    assert not result.ok and "PluginDead" in (result.error or "")
    assert why in (runner.exit_description or "")
    assert "killed by SIGKILL" in (runner.exit_description or "")


CHATTY = good_plugin(class_name="Base") + textwrap.dedent('''
import threading

print("printed while imported")

class Plugin(Base):
    def __init__(self):
        super().__init__()
        print("printed while constructed")
        own = threading.Thread(target=print, args=("printed by its own thread",))
        own.start()
        own.join()

    @hookimpl
    def plugin_version(self):
        print("printed in a hook")
        return "1.0.0"
''')


def test_what_a_plugin_prints_is_logged_and_json_output_stays_pure(
        dists: DistFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Defect: a plugin that prints to stdout corrupted `zepix plugins --json`.
    from zepix_core.cli.main import main

    dists.add("zepix-chatty", "1.0.0", {"chatty": "chatty_mod:Plugin"}, {"chatty_mod": CHATTY})
    assert main(["plugins", "--json", "-v", "--db", str(tmp_path / "z.db")]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [r["state"] for r in rows if r["id"] == "chatty"] == ["ACTIVE"]
    assert "printed" not in out
    for line in ("printed while imported", "printed while constructed", "printed in a hook"):
        assert f'plugin output plugin=chatty line="{line}"' in err, err
    assert 'line="printed by its own thread"' in err


def test_what_a_plugin_prints_in_a_worker_is_logged(
        dists: DistFactory, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers log at the verbosity the CLI exported; an earlier in-process CLI call
    # (a module fixture, before the per-test reset) may have left WARNING behind.
    monkeypatch.setenv("ZEPIX_LOG_LEVEL", "INFO")
    monkeypatch.delenv("ZEPIX_LOG_FORMAT", raising=False)
    source = good_plugin(class_name="Base") + textwrap.dedent('''
        class Plugin(Base):
            @hookimpl
            def health_ping(self, now):
                print("printed in a worker")
                return True
    ''')
    record = _record(dists, "worker_chatty", source)
    runner = ProcessRunner(record, extra_paths=[str(dists.root)])
    line = 'plugin output plugin=worker_chatty line="printed in a worker"'
    seen: list[tuple[str, str]] = []

    def logged() -> bool:  # the worker's log line may land just after its reply
        seen.append(capfd.readouterr())
        return any(line in err for _, err in seen)

    try:
        assert call(runner, "health_ping", 20.0, {"now": 0.0}).value is True
        wait_until(logged, timeout=30)
    finally:
        runner.close()
    assert not any("printed in a worker" in out for out, _ in seen)
