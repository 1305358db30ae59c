"""No plugin-made or config-made text reaches the operator's terminal with control
characters in it: ESC, BEL, CR and backspace are shown as escapes by every command
that prints such text (real ``zepix`` subprocesses, their raw output bytes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.distfactory import DistFactory, good_plugin
from zepix_core.contract.terminal import printable

ZEPIX = [sys.executable, "-m", "zepix_core.cli.main"]
CONTROLS = "\x1b\x07\r\x08"
#: Retitles the terminal, then turns everything after it red.
NASTY_ID = "\x1b]0;pwned\x07\x1b[31m"
NASTY_TEXT = "before\x1b]0;pwned\x07\x1b[31mred\rover\x08\x08X"


def zepix(*args: str, home: Path, extra_path: Path | None = None) -> tuple[str, str, int]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    done = subprocess.run([*ZEPIX, "--config", str(home / "zepix.toml"), *args],
                          capture_output=True, env=env, timeout=120, check=False)
    return (done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"),
            done.returncode)


def assert_inert(text: str) -> None:
    found = sorted({f"{ord(c):#04x}" for c in text if c in CONTROLS})
    assert not found, f"raw control characters {found} in: {text!r}"


def test_printable_escapes_controls_and_keeps_lines() -> None:
    assert printable(NASTY_TEXT) == ("before\\x1b]0;pwned\\x07\\x1b[31mred\\x0dover"
                                     "\\x08\\x08X")
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("\u202egnp.exe \x9b31m \x7f") == "\\u202egnp.exe \\x9b31m \\x7f"
    assert printable(printable(NASTY_TEXT)) == printable(NASTY_TEXT)


def test_a_rejected_plugin_id_is_shown_escaped_by_zepix_plugins(
        zepix_home: Path, dists: DistFactory) -> None:
    (zepix_home / "zepix.toml").write_text("", encoding="utf-8")
    dists.add("zepix-nasty", "1.0.0", {NASTY_ID: "nasty_mod:Plugin"},
              {"nasty_mod": good_plugin()})
    out, err, code = zepix("plugins", home=zepix_home, extra_path=dists.root)
    assert code == 0, err
    assert_inert(out)
    assert_inert(err)
    assert "\\x1b]0;pwned\\x07\\x1b[31m" in out  # the id, visibly, in its row and reason


def test_plugin_output_in_the_log_is_escaped(zepix_home: Path, dists: DistFactory) -> None:
    (zepix_home / "zepix.toml").write_text("", encoding="utf-8")
    # No whitespace in it: the log's key=value quoting (JSON) would escape the CR.
    source = f"print({NASTY_ID + 'X' + chr(8) + 'Y'!r})\n" + good_plugin()
    dists.add("zepix-loud", "1.0.0", {"loud": "loud_mod:Plugin"}, {"loud_mod": source})
    out, err, code = zepix("plugins", "-v", home=zepix_home, extra_path=dists.root)
    assert code == 0, err
    assert_inert(out)
    assert_inert(err)
    assert "plugin output" in err and "pwned" in err


def test_config_made_text_is_escaped_by_config_get_show_set_and_errors(
        zepix_home: Path) -> None:
    (zepix_home / "zepix.toml").write_text(
        '[plugins.x]\nnote = "a\\u001b[31mb\\u0007c\\rd\\bX"\n', encoding="utf-8")
    out, err, code = zepix("config", "get", "plugins.x.note", home=zepix_home)
    assert code == 0, err
    assert_inert(out)
    assert out == "a\\x1b[31mb\\x07c\\x0dd\\x08X\n"
    for args in (("config", "show"), ("config", "set", "plugins.x.note", NASTY_TEXT),
                 ("config", "get", "plugins.x.note"), ("config", "history"),
                 ("config", "get", f"nope{NASTY_ID}")):
        out, err, _ = zepix(*args, home=zepix_home)
        assert_inert(out)
        assert_inert(err)
    assert "pwned" in out + err


def test_plugin_made_alerts_and_events_are_escaped_by_alerts_and_history(
        zepix_home: Path) -> None:
    import time

    from zepix_core.contract.model import AlertLevel
    from zepix_core.host.host import create_host

    (zepix_home / "zepix.toml").write_text("", encoding="utf-8")
    host = create_host(zepix_home / "zepix.toml", zepix_home / "zepix.db")
    try:
        host.monitor.alerting.raise_event("nasty", "custom", AlertLevel.HIGH, NASTY_TEXT)
        host.store.record_event("nasty", "crashed", NASTY_TEXT, time.time(), "1.0", "host")
    finally:
        host.store.close()
    for args in (("alerts",), ("history", "--events"), ("history", "nasty", "--events")):
        out, err, code = zepix(*args, home=zepix_home)
        assert code == 0, err
        assert_inert(out)
        assert_inert(err)
        assert "\\x1b]0;pwned" in out, args  # shown, escaped
