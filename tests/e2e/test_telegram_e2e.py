"""The seed's story end to end: ``zepix run`` with the stand-in Bot API.

A real ``zepix run`` (a subprocess, the bundled plugins, a second version of
combined_v3 built into a wheel and ``zepix install``-ed) and a plugin that
hangs while a flag file exists. The test plays the operator in the chat:
/health shows the dashboard, /upgrade asks and upgrades on Confirm, /history
shows who asked, /rollback rolls back, and a hang's CRITICAL alert and its
resolution reach the alert chat. The token never appears in the logs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory
from tests.paths import ROOT
from tests.telegram_standin import StandIn
from zepix_core.storage import Store

REPO = ROOT
TOKEN = "5151:E2E-secret-token"
OPS, ALICE = 100, 7

HANGER = '''
import os, time
from zepix_core import hookimpl


class Plugin:
    @hookimpl
    def plugin_version(self):
        return "1.0.0"

    @hookimpl
    def health_ping(self, now):
        while os.path.exists(os.environ["HANG_FLAG"]):
            time.sleep(0.05)
        return True

    @hookimpl
    def get_metrics(self):
        return {}

    @hookimpl
    def self_test(self):
        return True
'''


def _combined_wheel(tmp: Path, version: str) -> Path:
    source = tmp / "combined-src"
    shutil.copytree(REPO / "plugins" / "combined_v3", source,
                    ignore=shutil.ignore_patterns("*.egg-info", "build", "tests", "__pycache__"))
    (source / "zepix_combined_v3" / "_version.py").write_text(
        f'__version__ = "{version}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "-w", str(tmp / "wheels"), str(source)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return next((tmp / "wheels").glob(f"zepix_combined_v3-{version}-*.whl"))


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(TOKEN)
    yield server
    server.close()


def _reply(api: StandIn, text: str, want: str, timeout: float = 60.0) -> str:
    """Say ``text`` until an answer contains ``want`` (the first rounds may not have run)."""
    deadline = time.monotonic() + timeout
    while True:
        before = len(api.texts(OPS))
        api.say(OPS, ALICE, text)
        answer = api.sent_after(OPS, before, timeout=30)[-1]
        if want in answer or time.monotonic() > deadline:
            assert want in answer, answer
            return answer
        time.sleep(1.0)


def _confirm(api: StandIn, text: str, done: str, timeout: float = 90.0) -> str:
    before = len(api.texts(OPS))
    api.say(OPS, ALICE, text)
    [prompt] = api.sent_after(OPS, before, timeout=30)
    assert "Only you can confirm" in prompt, prompt
    call = api.of("sendMessage", OPS)[-1]
    message_id = max(m for m, v in api.messages.items() if v["text"] == prompt)
    ok = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    api.press(OPS, ALICE, message_id, ok)
    found: str = api.wait_for(lambda: done in (t := str(api.messages[message_id]["text"]))
                              and t, timeout)
    return found


@pytest.mark.slow
def test_the_seed_story_with_zepix_run_and_the_stand_in(
        tmp_path: Path, zepix_home: Path, dists: DistFactory, standin: StandIn) -> None:
    env = {**os.environ, "ZEPIX_HOME": str(zepix_home), "ZEPIX_DB": str(zepix_home / "zepix.db"),
           "ZEPIX_TELEGRAM_TOKEN": TOKEN, "HANG_FLAG": str(tmp_path / "hang"),
           "PYTHONPATH": os.pathsep.join([str(dists.root), str(REPO)])}
    dists.add("zx-hanger", "1.0.0", {"hanger": "zx_hanger_mod:Plugin"}, {"zx_hanger_mod": HANGER})
    wheel = _combined_wheel(tmp_path, "3.3.0")
    zepix = [sys.executable, "-m", "zepix_core.cli.main"]
    installed = subprocess.run([*zepix, "install", str(wheel), "--no-build-isolation"], env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stderr
    (zepix_home / "zepix.toml").write_text(
        "[store]\nprobation_rounds = 2\n\n[thresholds]\ncpu_percent = 10000\n\n"
        "[plugins.hanger]\nping_timeout = 0.3\n\n"
        f"[telegram]\nallowed_chats = [{OPS}]\nalert_chats = [{OPS}]\nallowed_users = [7]\n"
        f"api_url = \"{standin.base_url}\"\n", encoding="utf-8")
    run = subprocess.Popen([*zepix, "-vv", "run", "--interval", "1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dashboard = _reply(standin, "/health", "<b>combined_v3</b>")
        assert "🟢 <b>combined_v3</b>" in dashboard and "(P95)" in dashboard
        db = Store(zepix_home / "zepix.db")
        standin.wait_for(lambda: db.version_book("combined_v3").versions
                         .get("3.2.0", {}).get("gate_passed"), timeout=60)

        upgraded = _confirm(standin, "/upgrade combined_v3 3.3.0", "applied: 3.3.0 is active")
        assert "Confirmed by telegram:7." in upgraded
        history = _reply(standin, "/history combined_v3", "telegram:7")
        assert "<code>3.3.0</code>" in history
        _confirm(standin, "/rollback combined_v3", "applied: 3.2.0 is active")
        assert db.history("combined_v3")[0]["version"] == "3.2.0"

        (tmp_path / "hang").touch()
        critical = standin.wait_for(lambda: [t for t in standin.texts(OPS)
                                             if "🚨" in t and "hanger" in t], timeout=60)
        assert "2 health pings in a row" in critical[0]
        (tmp_path / "hang").unlink()
        resolved = standin.wait_for(lambda: [t for t in standin.texts(OPS)
                                             if "Resolved" in t and "hanger" in t], timeout=60)
        assert resolved
        db.close()
    finally:
        if (tmp_path / "hang").exists():
            (tmp_path / "hang").unlink()
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-3000:]
    assert "shut down cleanly" in out
    assert TOKEN not in out + err and TOKEN.split(":")[1] not in err
