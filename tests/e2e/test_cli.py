"""The ``zepix`` command in-process: help, JSON output, exit codes and config errors.

Discovery reads ``sys.path``, where the ``dists`` fixture puts its real
dist-info entry points, so these plugins are found exactly as installed ones.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.venvs import one_json
from zepix_core.cli.commands import COMMANDS
from zepix_core.cli.main import main
from zepix_core.host.host import create_host

NAMES = [c.name for c in COMMANDS]
LISTINGS = [c.name for c in COMMANDS if c.listing]


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    """``zepix run`` installs SIGINT/SIGTERM handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``zepix argv`` in-process; returns (exit status, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: --help and usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    return err


@pytest.mark.parametrize("command", [None, *NAMES])
def test_help_exits_0_and_teaches(capsys: pytest.CaptureFixture[str], command: str | None) -> None:
    argv = ["--help"] if command is None else [command, "--help"]
    code, out, _ = cli(capsys, *argv)
    assert code == 0
    if command is None:
        assert all(name in out for name in NAMES)
        assert "Exit status" in out
    else:
        assert out.startswith(f"usage: zepix {command}")
        assert "--db" in out and "--config" in out


def _seed_history(dists: DistFactory) -> None:
    """A real run over a dist-info plugin, so every listing has rows to show."""
    dists.add("zepix-seed", "1.2.0", {"seed": "seed_mod:Plugin"},
              {"seed_mod": good_plugin("1.2.0")})
    create_host(paths=[str(dists.root)]).run(once=True)


@pytest.mark.parametrize("command", LISTINGS)
def test_listing_json_is_one_document(capsys: pytest.CaptureFixture[str], dists: DistFactory,
                                      command: str) -> None:
    _seed_history(dists)
    controls = {"pause": ("seed",), "resume": ("seed",), "breaker": ("open", "seed")}
    code, out, err = cli(capsys, command, *controls.get(command, ()), "--json")
    if code == 2 and "required" in err:  # the listing needs a plugin id
        code, out, err = cli(capsys, command, "seed", "--json")
    if command == "breaker":  # breakers live in a running host; none runs here
        assert code == 2 and "no host is running" in err
        return
    assert code == (3 if command == "status" else 0), err  # status: 3 when no host runs
    document = one_json(out)
    assert isinstance(document, (list, dict))
    if command in ("plugins", "history", "health"):
        assert isinstance(document, list)
        ids = {row.get("plugin_id", row.get("id")) for row in document}
        assert "seed" in ids


def test_history_json_fields_and_utc_times(capsys: pytest.CaptureFixture[str],
                                           dists: DistFactory) -> None:
    _seed_history(dists)
    code, out, _ = cli(capsys, "history", "seed", "--json")
    assert code == 0
    [row] = one_json(out)
    assert {"plugin_id", "version", "activated_at", "deactivated_at", "reason"} <= set(row)
    assert (row["plugin_id"], row["version"], row["reason"]) == ("seed", "1.2.0", "shutdown")
    assert row["activated_at"].endswith("+00:00") and row["deactivated_at"].endswith("+00:00")


BAD_CONFIGS = {
    "invalid_toml": ("[host]\ninterval = = 3\n", ("not valid TOML", "line 2")),
    "unknown_host_key": ("[host]\nintervall = 3\n",
                         ("host.intervall", "unknown key", "did you mean 'interval'")),
    "bad_pin": ('[plugins.combined_v3]\nversion = "~=banana"\n',
                ("plugins.combined_v3.version", "'~=banana'", "PEP 440 specifier")),
    "wrong_type": ('[host]\ninterval = "fast"\n',
                   ("host.interval", "'fast'", "expected a number > 0")),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", ["run --once", "plugins --check"])
def test_bad_config_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          case: str, command: str) -> None:
    """What acts or checks refuses a bad file; what only shows warns
    (tests/unit/cli/test_views_on_a_broken_config.py)."""
    text, words = BAD_CONFIGS[case]
    config = tmp_path / "zepix.toml"
    config.write_text(text, encoding="utf-8")
    argv = [*command.split(), "--config", str(config)]
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert out == ""
    line = one_line(err)
    assert line.startswith(f"zepix: error: {config}:2: ")
    for word in words:
        assert word in line, f"{word!r} missing from {line!r}"


def test_default_config_in_the_data_directory_is_read(
        capsys: pytest.CaptureFixture[str], zepix_home: Path) -> None:
    (zepix_home / "zepix.toml").write_text("[host]\nbars_per_round = -1\n", encoding="utf-8")
    code, _, err = cli(capsys, "plugins", "--check")
    assert code == 2
    assert f"{zepix_home / 'zepix.toml'}:2: host.bars_per_round" in one_line(err)


@pytest.mark.parametrize("argv, words", [
    (["run", "--interval", "0"], ("--interval must be > 0",)),
    (["self-test", "no_such_plugin"], ("no plugin 'no_such_plugin'", "zepix plugins")),
    ([], ("required: COMMAND", "zepix --help")),
    (["nonsense"], ("invalid choice: 'nonsense'",)),
    (["history", "--limit", "many"], ("--limit: invalid int value: 'many'",
                                      "see 'zepix history --help'")),
    (["plugins", "--bogus"], ("unrecognized arguments: --bogus",)),
])
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                           argv: list[str], words: tuple[str, ...]) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith("zepix")
    for word in words:
        assert word in line, f"{word!r} missing from {line!r}"


FAILING_SELF_TEST = good_plugin().replace(
    "    def self_test(self):\n        return True",
    "    def self_test(self):\n        return {'passed': False, 'checks': [\n"
    "            {'name': 'feed', 'passed': True, 'detail': 'ok'},\n"
    "            {'name': 'ledger', 'passed': False, 'detail': 'counts differ'}]}")


def test_self_test_exit_status(capsys: pytest.CaptureFixture[str], dists: DistFactory) -> None:
    dists.add("zepix-passing", "1.0.0", {"passing": "passing_mod:Plugin"},
              {"passing_mod": good_plugin()})
    dists.add("zepix-failing", "1.0.0", {"failing": "failing_mod:Plugin"},
              {"failing_mod": FAILING_SELF_TEST})

    code, out, _ = cli(capsys, "self-test", "passing", "--json")
    assert code == 0
    assert [(r["plugin_id"], r["passed"]) for r in one_json(out)] == [("passing", True)]

    code, out, _ = cli(capsys, "self-test", "failing", "--json")
    assert code == 1
    [row] = one_json(out)
    assert row["passed"] is False and "ledger" in row["detail"]
    assert [c["name"] for c in row["checks"] if not c["passed"]] == ["ledger"]

    code, out, _ = cli(capsys, "self-test", "--json")  # all plugins: one failure fails all
    assert code == 1
    results = {r["plugin_id"]: r["passed"] for r in one_json(out)}
    assert results["passing"] is True and results["failing"] is False


@pytest.mark.parametrize("argv", [
    ["--db", "{db}", "history", "--json"],
    ["history", "--db", "{db}", "--json"],
])
def test_common_options_before_or_after_the_command(tmp_path: Path, argv: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from zepix_core.cli.main import main

    db = tmp_path / "elsewhere.db"
    assert main([a.format(db=db) for a in argv]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert db.exists()


def test_alerts_json_says_which_sinks_got_each_alert(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zepix_core import Alert, AlertLevel
    from zepix_core.storage import Store

    db = tmp_path / "alerts.db"
    store = Store(db)
    fired = Alert("p", "hung", AlertLevel.CRITICAL, "2 pings missed", 1_700_000_000.0)
    store.record_alerts([fired, Alert("q", "stale", AlertLevel.HIGH, "idle", 1_700_000_001.0)])
    store.record_delivery(fired.fingerprint, "log", True, None, 1_700_000_000.5)
    store.record_delivery(fired.fingerprint, "webhook", False, "HTTP 503 (after 4 attempts)",
                          1_700_000_009.0)
    store.close()
    assert main(["alerts", "--json", "--db", str(db)]) == 0
    q, p = json.loads(capsys.readouterr().out)
    assert (q["plugin_id"], q["delivered"], q["deliveries"]) == ("q", None, [])
    assert p["delivered"] is False
    assert p["deliveries"] == [
        {"sink": "log", "delivered": True, "error": None,
         "timestamp": "2023-11-14T22:13:20.500+00:00"},
        {"sink": "webhook", "delivered": False, "error": "HTTP 503 (after 4 attempts)",
         "timestamp": "2023-11-14T22:13:29.000+00:00"}]


LONG_REASON = "x" * 30 + " and then a very long explanation of what went wrong " * 4


def test_plugins_check_exits_1_when_a_plugin_is_rejected(
        capsys: pytest.CaptureFixture[str], dists: DistFactory) -> None:
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    assert cli(capsys, "plugins", "--check")[0] == 0
    dists.add("zepix-future", "1.0.0", {"future": "future_mod:Plugin"},
              {"future_mod": good_plugin(api=">=9")})
    code, out, _ = cli(capsys, "plugins", "--check")
    assert code == 1 and "REJECTED" in out
    assert cli(capsys, "plugins")[0] == 0  # without --check the listing is not a check


def test_plugins_table_wraps_long_reasons_instead_of_cutting_them(
        capsys: pytest.CaptureFixture[str], dists: DistFactory) -> None:
    dists.add("zepix-future", "1.0.0", {"future": "future_mod:Plugin"},
              {"future_mod": good_plugin(api=">=9")})
    code, out, _ = cli(capsys, "plugins")
    assert code == 0
    _, as_json, _ = cli(capsys, "plugins", "--json")
    [reason] = [r["reason"] for r in json.loads(as_json) if r["id"] == "future"]
    assert len(reason) > 60 and "…" not in out
    assert " ".join(out.split()).count(" ".join(reason.split()[-3:])) == 1


def test_plugins_id_shows_everything_about_one_plugin(
        capsys: pytest.CaptureFixture[str], dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    host = create_host(None, None, paths=[str(dists.root)])
    host.run(once=True)
    code, out, _ = cli(capsys, "plugins", "good")
    assert code == 0
    for expected in ("entry point:   good_mod:Plugin", "distribution:  zepix-good 1.0.0",
                     "hooks:         activate, config_changed, deactivate, get_metrics,",
                     "last health", "status:        HEALTHY", "state history"):
        assert expected in out
    _, doc, _ = cli(capsys, "plugins", "good", "--json")
    detail = json.loads(doc)
    assert detail["last_health"]["status"] == "HEALTHY"
    assert detail["history"][0]["deactivation_reason"] == "shutdown"
    code, _, err = cli(capsys, "plugins", "nosuch")
    assert code == 2 and "no plugin 'nosuch' is installed (installed: " in err


def test_plugins_shows_a_wrong_shaped_health_answer_as_the_reason(
        capsys: pytest.CaptureFixture[str], dists: DistFactory) -> None:
    listing = good_plugin().replace('return {"signals_processed": self.bars}', "return [1, 2]")
    dists.add("zepix-listy", "1.0.0", {"listy": "listy_mod:Plugin"}, {"listy_mod": listing})
    host = create_host(None, None, paths=[str(dists.root)])
    host.run(once=True)
    _, doc, _ = cli(capsys, "plugins", "--json")
    [row] = [r for r in json.loads(doc) if r["id"] == "listy"]
    assert row["state"] == "ACTIVE"
    assert "get_metrics answered in a wrong shape" in row["reason"]
