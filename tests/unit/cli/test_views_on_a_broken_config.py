"""A config a start refuses does not hide the views: ``status``, ``plugins``,
``self-test``, ``versions``, ``sync status`` and ``retries`` still show, with one
warning line naming FILE:LINE: KEY: problem; what acts (``run``, ``sync --now``,
``upgrade``) or checks (``plugins --check``) still refuses with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from tests.venvs import clean_env
from zepix_core.cli.main import main
from zepix_core.loading.config import load_lenient

#: Wrong three ways: a key's value (schema), a pin and the ledger's url (checks across).
BROKEN = ('[host]\ninterval = "fast"\n'
          '[plugins.alpha]\nversion = "~=banana"\n'
          '[sync]\nurl = "ftp://nowhere"\n')


@pytest.fixture
def config(tmp_path: Path, dists: DistFactory) -> Path:
    dists.add("zx-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin(version="1.0.0")})
    path = tmp_path / "zepix.toml"
    path.write_text(BROKEN, encoding="utf-8")
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "expected"), [
    (("status", "--json"), 3),           # no host runs on this database
    (("plugins", "--json"), 0),
    (("self-test", "--json"), 0),
    (("versions", "alpha", "--json"), 0),
    (("sync", "status", "--json"), 0),
    (("retries", "--json"), 0),
])
def test_a_view_shows_and_warns_in_one_line(capsys: pytest.CaptureFixture[str], config: Path,
                                            argv: tuple[str, ...], expected: int) -> None:
    code, out, err = _cli(capsys, *argv, "--config", str(config))
    assert code == expected, err
    json.loads(out)  # the whole document, nothing else on stdout
    assert err.count("\n") == 1, err
    assert err.startswith(f"zepix: warning: {config}:2: host.interval: got 'fast'; "), err
    assert "(and 2 more problem(s))" in err and "zepix config show" in err


def test_the_view_shows_the_plugin_the_bad_pin_would_have_filtered(
        capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = _cli(capsys, "plugins", "--json", "--config", str(config))
    assert code == 0
    [alpha] = [r for r in json.loads(out) if r["id"] == "alpha"]
    assert (alpha["version"], alpha["reason"]) == ("1.0.0", None)
    code, out, _ = _cli(capsys, "versions", "alpha", "--json", "--config", str(config))
    assert [r["version"] for r in json.loads(out)] == ["1.0.0"]


@pytest.mark.parametrize("argv", [("run", "--once"), ("plugins", "--check"),
                                  ("sync", "--now"), ("upgrade", "alpha", "1.0.0")])
def test_what_acts_or_checks_still_refuses(capsys: pytest.CaptureFixture[str], config: Path,
                                           argv: tuple[str, ...]) -> None:
    code, out, err = _cli(capsys, *argv, "--config", str(config))
    assert (code, out) == (2, "")
    assert err == f"zepix: error: {config}:2: host.interval: got 'fast'; expected a number > 0\n"


def test_every_problem_is_named_and_left_out(tmp_path: Path) -> None:
    path = tmp_path / "zepix.toml"
    path.write_text(BROKEN + '[risk]\naction = "panic"\n', encoding="utf-8")
    cfg, reasons = load_lenient(path)
    assert [r.split(": ")[:2] for r in reasons] == [
        [f"{path}:2", "host.interval"], [f"{path}:4", "plugins.alpha.version"],
        [f"{path}:6", "sync.url"], [f"{path}:8", "risk.action"]]
    # what is left is a config every view can use: the defaults in place of the bad keys
    assert cfg.host["interval"] == 30
    assert cfg.plugin("alpha").version is None
    assert cfg.sync().url.startswith("sqlite://")
    assert "action" not in cfg.sections["risk"]


def test_the_console_script_shows_status_on_a_broken_config(config: Path,
                                                             tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "status", "--json",
                           "--config", str(config)], env=clean_env(home),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["running"] is False
    assert done.stderr.startswith(f"zepix: warning: {config}:2: host.interval")
    assert done.stderr.count("\n") == 1
