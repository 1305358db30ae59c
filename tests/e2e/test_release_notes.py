"""Release notes and release facts per plugin version (issue 28 items 5 and 6): commit,
author, features, build date and release notes are kept per version in the version
database, from the plugin's ``plugin_version`` reply and from its distribution (its
metadata's author, ``zepix-plugin.toml``), and shown by ``zepix versions ID`` (table and
``--json``) and by Telegram ``/version`` (through the Bot API stand-in).

The plugin is ``zx-notes`` built into real wheels by pip and installed into the store by
``zepix install``; every figure shown is compared with what this file wrote into its
sources and metadata (``RELEASES``, ``AUTHOR``, ``DECLARED``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from tests.telegram_standin import StandIn
from zepix_core.cli.commands.versions import release_lines
from zepix_core.contract.errors import PluginError
from zepix_core.loading.paths import data_dir
from zepix_core.loading.resolution import parse_meta
from zepix_core.retry import Retrier
from zepix_core.telegram import Timing, start
from zepix_core.testing import FakeClock
from zepix_core.versions.release import NOTES_LIMIT, from_meta

TOKEN = "4242:SECRET-token-never-shown"
OPS, ALICE = 100, 7
AUTHOR = "Ada Lovelace"

#: What version 1.0.0's plugin_version reports (its running code is the only source).
RELEASES: dict[str, dict[str, Any]] = {
    "1.0.0": {"commit": "c0ffee1", "build_date": "2026-11-30T12:00:00Z",
              "features": ["trailing_stop", "timeframe:5m"],
              "release_notes": "First release.\nBuys up bars <fast> & sells down bars."},
}
#: What version 1.1.0 declares in zepix-plugin.toml (read at install, no code run).
DECLARED = {"commit": "badc0de", "build_date": "2026-12-01", "release_notes": "Faster exits."}

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "zx-notes"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["zepix-core>=1.0"]
authors = [{{name = "{author}", email = "ada@example.org"}}]

[project.entry-points."zepix.plugins"]
notes = "zx_notes:Plugin"

[tool.setuptools]
packages = ["zx_notes"]

[tool.setuptools.package-data]
zx_notes = ["zepix-plugin.toml"]
"""

SOURCE = '''
from zepix_core import hookimpl

REPLY = {reply!r}


class Plugin:
    @hookimpl
    def plugin_version(self):
        return REPLY

    @hookimpl
    def health_ping(self, now):
        return {{"ok": True, "last_activity": now}}

    @hookimpl
    def get_metrics(self):
        return {{"signals_processed": 0}}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        pass

    @hookimpl
    def deactivate(self, reason):
        pass

    @hookimpl
    def on_bar(self, bar):
        return None
'''


def project(root: Path, version: str) -> Path:
    tree = root / f"zx-notes-{version}"
    (tree / "zx_notes").mkdir(parents=True)
    (tree / "pyproject.toml").write_text(PYPROJECT.format(version=version, author=AUTHOR),
                                         encoding="utf-8")
    reply = {"version": version, "requires_api": ">=1.0,<2", **RELEASES.get(version, {})}
    (tree / "zx_notes" / "__init__.py").write_text(
        textwrap.dedent(SOURCE.format(reply=reply)), encoding="utf-8")
    declared = "".join(f"{k} = {json.dumps(v)}\n" for k, v in DECLARED.items())
    (tree / "zx_notes" / "zepix-plugin.toml").write_text(
        "[plugins.notes]\n" + (declared if version == "1.1.0" else ""), encoding="utf-8")
    return tree


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notes")
    for version in ("1.0.0", "1.1.0"):
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "--no-index", "--disable-pip-version-check", "--quiet", "-w", str(root / "w"),
             str(project(root, version))], capture_output=True, text=True, check=False,
            timeout=300)
        assert done.returncode == 0, done.stderr
    return {v: next((root / "w").glob(f"zx_notes-{v}-*.whl")) for v in ("1.0.0", "1.1.0")}


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(TOKEN, clock=FakeClock().monotonic)
    yield server
    server.close()


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str], standin: StandIn) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    with (data_dir() / "zepix.toml").open("a", encoding="utf-8") as f:
        f.write(f"\n[telegram]\nallowed_chats = [{OPS}]\nalert_chats = []\n"
                f"allowed_users = [{ALICE}]\napi_url = \"{standin.base_url}\"\n")
    yield rig
    rig.close()


def rows(rig: pv.Rig) -> dict[str, dict[str, Any]]:
    code, out, err = rig.zepix("versions", "notes", "--json")
    assert code == 0, err
    return {r["version"]: r for r in json.loads(out)}


def ask(api: StandIn, text: str) -> str:
    before = len(api.texts(OPS))
    api.say(OPS, ALICE, text)
    return api.sent_after(OPS, before)[-1]


def test_release_facts_are_kept_per_version_and_shown(
        rig: pv.Rig, wheels: dict[str, Path], standin: StandIn) -> None:
    for wheel in wheels.values():
        code, _, err = rig.zepix("install", str(wheel))
        assert code == 0, err
    # Installed, never run: what the distributions state (metadata author, toml).
    before = rows(rig)
    assert before["1.1.0"]["author"] == AUTHOR and before["1.0.0"]["author"] == AUTHOR
    assert {k: before["1.1.0"][k] for k in DECLARED} == DECLARED
    assert before["1.0.0"]["commit"] is None and before["1.0.0"]["release_notes"] is None

    code, _, err = rig.zepix("upgrade", "notes", "1.0.0")
    assert code == 0, err
    rig.start()
    rig.rounds(2)
    assert rig.running("notes")[0] == "1.0.0"
    # What 1.0.0's code reported, kept in the version database, shown by the CLI.
    after = rows(rig)["1.0.0"]
    want = RELEASES["1.0.0"]
    assert {k: after[k] for k in want} == want and after["author"] == AUTHOR
    book = {r["version"]: r for r in rig.host.store.versions("notes")}
    assert book["1.0.0"]["commit_id"] == want["commit"]
    assert json.loads(book["1.0.0"]["features"]) == want["features"]
    assert book["1.0.0"]["release_notes"] == want["release_notes"]

    code, table, err = rig.zepix("versions", "notes")
    assert code == 0, err
    assert (f"1.0.0: commit {want['commit']}; author {AUTHOR}; built {want['build_date']}; "
            f"features {', '.join(want['features'])}") in table
    assert "    First release.\n    Buys up bars <fast> & sells down bars.\n" in table
    assert f"1.1.0: commit {DECLARED['commit']}; author {AUTHOR}" in table
    assert "    Faster exits." in table

    timing = Timing(clock=FakeClock().monotonic, interval=10.0, poll_timeout=1.0,
                    sweep_every=0.05, poll=0.05)
    bot = start(rig.host, env={"ZEPIX_TELEGRAM_TOKEN": TOKEN}, retrier=Retrier(),
                timing=timing)
    assert bot is not None and bot.controller.ready.wait(30)
    try:
        every = ask(standin, "/version")
        assert "📌 <b>notes</b> <code>1.0.0</code>" in every
        assert f"├ Released: {want['build_date']}" in every
        assert f"├ Commit: {want['commit']}" in every
        assert f"├ Features: {', '.join(want['features'])}" in every
        assert "Notes:" not in every
        one = ask(standin, "/version notes")
        assert ("└ Notes: First release.\nBuys up bars &lt;fast&gt; &amp; sells down bars."
                in one)
        assert f"├ Commit: {DECLARED['commit']}" in one and "└ Notes: Faster exits." in one
        assert "no plugin 'nope'" in ask(standin, "/version nope")
    finally:
        bot.stop()


def test_a_bad_release_field_is_named_and_long_notes_are_cut() -> None:
    with pytest.raises(PluginError, match="release_notes must be a string"):
        parse_meta({"version": "1.0.0", "release_notes": ["a list"]})
    meta = parse_meta({"version": "1.0.0", "release_notes": "x" * (NOTES_LIMIT * 3),
                       "features": [f"f{i}" for i in range(500)]})
    kept = from_meta(meta)
    assert kept["release_notes"] == "x" * (NOTES_LIMIT - 1) + "…"
    assert json.loads(str(kept["features"])) == [f"f{i}" for i in range(50)]


def test_release_text_reaches_a_terminal_inert() -> None:
    row = {"version": "1.0.0", "commit": "c0ffee1\x1b]0;owned\x07", "author": None,
           "build_date": None, "features": ["a\u202eb"],
           "release_notes": "line one\r\x1b[31mred\nline two"}
    lines = release_lines([row, {**row}])  # the second copy of a version adds nothing
    assert lines == ["", "Releases:",
                     "1.0.0: commit c0ffee1\\x1b]0;owned\\x07; features a\\u202eb",
                     "    line one", "    \\x1b[31mred", "    line two"]  # CR: a new line
