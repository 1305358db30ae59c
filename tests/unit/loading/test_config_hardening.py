"""Config values that used to pass loading and fail later, or give a traceback (issue 10,
item 5; issue 19, item 6). Each is now one line on stderr, exit status 2, naming the file
and the key, from the command an operator runs first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zepix_core.cli.main import main
from zepix_core.loading.config import edits, load_config

CASES = {
    "version_not_a_string": ("[plugins.x]\nversion = 3\n", ["plugins.x.version", "PEP 440"]),
    "threshold_wrong_type": ('[thresholds]\np95_latency_ms = "fast"\n',
                             ["thresholds.p95_latency_ms", "expected a number > 0"]),
    "plugin_threshold_nan": ("[plugins.x.thresholds]\nerror_rate = nan\n",
                             ["plugins.x.thresholds.error_rate", "finite"]),
    "plugin_threshold_type": ('[plugins.x.thresholds]\nmin_calls = "many"\n',
                              ["plugins.x.thresholds", "min_calls"]),
    "cooldown_text": ('[alerts]\ncooldown = "abc"\n', ["alerts.cooldown", "'abc'"]),
    "cooldown_negative": ("[alerts]\ncooldown = -5\n", ["alerts.cooldown", "-5"]),
    "interval_inf": ("[host]\ninterval = inf\n", ["host.interval", "finite"]),
    "interval_nan": ("[host]\ninterval = nan\n", ["host.interval", "finite"]),
    "supervision_nan": ("[supervision]\nrestart_backoff = nan\n",
                        ["supervision.restart_backoff", "finite"]),
    "store_inf": ("[store]\ncanary_p95_ratio = inf\n", ["store.canary_p95_ratio", "finite"]),
    "ping_timeout_negative": ("[plugins.x]\nping_timeout = -1\n", ["plugins.x.ping_timeout"]),
    "enable_typo": ("[plugins.x]\nenable = false\n", ["plugins.x.enable", "did you mean 'enabled'"]),
    "verison_typo": ('[plugins.x]\nverison = "~=1.0"\n', ["plugins.x.verison",
                                                          "did you mean 'version'"]),
    "isolaton_typo": ('[plugins.x]\nisolaton = "process"\n', ["plugins.x.isolaton",
                                                             "did you mean 'isolation'"]),
    "thresholds_not_a_table": ("[plugins.x]\nthresholds = 3\n", ["plugins.x.thresholds"]),
}


@pytest.mark.parametrize("command", ["run", "plugins --check"])  # a view only warns
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_value_is_one_line_naming_file_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str) -> None:
    text, words = CASES[case]
    config = tmp_path / "zepix.toml"
    config.write_text(text, encoding="utf-8")
    argv = [*command.split(), "--config", str(config), "--db", str(tmp_path / "z.db")]
    code = main([*argv, "--once"] if command == "run" else argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"zepix: error: {config}:"), err
    assert re.match(rf"zepix: error: {re.escape(str(config))}:\d+: ", err), err  # FILE:LINE
    for word in words:
        assert word in err, f"{word!r} missing from {err!r}"


def test_a_plugins_own_keys_pass_to_it(tmp_path: Path) -> None:
    config = tmp_path / "zepix.toml"
    config.write_text("[plugins.x]\nrisk_per_trade = 0.01\nsymbols = ['BTCUSD']\n"
                      "enabled = true\n", encoding="utf-8")
    assert load_config(config).plugin("x").table["risk_per_trade"] == 0.01


@pytest.mark.parametrize(("a", "b", "n"), [
    ("enable", "enabled", 1), ("verison", "version", 1), ("isolaton", "isolation", 1),
    ("vresoin", "version", 2), ("vrsn", "version", 3), ("", "ab", 2), ("abc", "abc", 0),
])
def test_edit_distance(a: str, b: str, n: int) -> None:
    assert edits(a, b) == n


@pytest.mark.parametrize("argv", [["--interval", "inf"], ["--interval", "nan"],
                                  ["--duration", "nan"], ["--duration", "-1"]])
def test_run_refuses_non_finite_or_negative_times(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(["run", "--db", str(tmp_path / "z.db"), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and argv[0] in err
