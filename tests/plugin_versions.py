"""Real wheels of several versions of one generated test plugin, for the version tests.

``ALPHA`` lists the versions of ``zx-alpha`` (plugin id ``alpha``): each is a
project generated into a temporary directory and built with ``pip wheel
--no-deps --no-build-isolation``, once per session (the builds run side by
side). ``seed_store`` installs every wheel into a session store through
``PluginStore.install`` (real ``pip install --target``); ``fill_store`` copies
chosen versions from it into a test's own store, which is what installing
them again would produce, in milliseconds.

Version 1.2.0 is broken: its ``on_bar`` raises, so its error rate fails any
probation or canary. Any version's ``self_test`` fails when its version is
listed in ``$ZX_FAIL_SELF_TEST`` (read in the worker).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import PluginState
from zepix_core.cli.main import main
from zepix_core.execution.ports import Clocks
from zepix_core.host.host import Host, create_host
from zepix_core.loading.paths import data_dir, store_dir
from zepix_core.storage import Row, Store
from zepix_core.versions.store import PluginStore, content_digest

ALPHA = {"1.0.0": False, "1.1.0": False, "1.2.0": True, "2.0.0": False}  # version -> broken

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "zx-alpha"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["zepix-core>=1.0"]

[project.entry-points."zepix.plugins"]
alpha = "zx_alpha:Plugin"

[tool.setuptools]
packages = ["zx_alpha"]

[tool.setuptools.package-data]
zx_alpha = ["zepix-plugin.toml"]
"""

DECLARED = """\
[plugins.alpha]
requires_api = ">=1.0,<2"
"""

SOURCE = '''
"""zx-alpha {version}: a strategy that buys up bars and sells down bars of 5m closes."""
import os

from zepix_core import hookimpl

VERSION = "{version}"
BROKEN = {broken!r}


class Plugin:
    def __init__(self):
        self.bars = 0

    @hookimpl
    def plugin_version(self):
        return {{"version": VERSION, "requires_api": ">=1.0,<2"}}

    @hookimpl
    def health_ping(self, now):
        return {{"ok": True, "last_activity": now}}

    @hookimpl
    def get_metrics(self):
        return {{"signals_processed": self.bars}}

    @hookimpl
    def self_test(self):
        return VERSION not in os.environ.get("ZX_FAIL_SELF_TEST", "").split(",")

    @hookimpl
    def activate(self, context, config):
        pass

    @hookimpl
    def deactivate(self, reason):
        pass

    @hookimpl
    def on_bar(self, bar):
        if BROKEN:
            raise RuntimeError(VERSION + " cannot read bars")
        self.bars += 1
        if bar.timeframe != "5m":
            return None
        side = "buy" if bar.close >= bar.open else "sell"
        return [{{"symbol": bar.symbol, "side": side, "quantity": 1.0, "price": bar.close,
                  "reason": VERSION}}]
'''

_CACHE: dict[str, object] = {}


def generate(root: Path, version: str, broken: bool) -> Path:
    project = root / f"zx-alpha-{version}"
    (project / "zx_alpha").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(version=version), encoding="utf-8")
    (project / "zx_alpha" / "__init__.py").write_text(
        textwrap.dedent(SOURCE.format(version=version, broken=broken)), encoding="utf-8")
    (project / "zx_alpha" / "zepix-plugin.toml").write_text(DECLARED, encoding="utf-8")
    return project


def _pip_wheel(project: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet", "-w", str(dest), str(project)],
        capture_output=True, text=True, check=False, timeout=300)


def wheels(factory: pytest.TempPathFactory) -> dict[str, Path]:
    """version -> wheel of ``zx-alpha``, built once per session."""
    if "wheels" not in _CACHE:
        root = factory.mktemp("alpha-projects")
        dest = root / "wheels"
        projects = [generate(root, v, broken) for v, broken in ALPHA.items()]
        with ThreadPoolExecutor(max_workers=len(projects)) as pool:
            for done in pool.map(lambda p: _pip_wheel(p, dest), projects):
                assert done.returncode == 0, done.stderr
        _CACHE["wheels"] = {v: next(dest.glob(f"zx_alpha-{v}-*.whl")) for v in ALPHA}
    built: dict[str, Path] = _CACHE["wheels"]  # type: ignore[assignment]
    return built


def seed_store(factory: pytest.TempPathFactory) -> Path:
    """A store holding every ``ALPHA`` version, installed by ``PluginStore.install``."""
    if "store" not in _CACHE:
        built = wheels(factory)
        store = PluginStore(factory.mktemp("seed") / "store")
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda w: store.install(str(w)), built.values()))
        _CACHE["store"] = store.root
    root: Path = _CACHE["store"]  # type: ignore[assignment]
    return root


def fill_store(factory: pytest.TempPathFactory, store: Path, *versions: str) -> None:
    """Copy ``versions`` of zx-alpha from the session's seed store into ``store``, and
    record their digests in the store's database, as ``zepix install`` does."""
    seed = seed_store(factory) / "zx-alpha"
    db = store.parent / ("zepix.db" if store.name == "store" else
                         store.name.removesuffix(".store") + ".db")
    book = Store(db)
    try:
        for version in versions:
            shutil.copytree(seed / version, store / "zx-alpha" / version)
            book.record_store_digest(f"zx-alpha/{version}",
                                     content_digest(store / "zx-alpha" / version), time.time())
    finally:
        book.close()


def handmade_wheel(dest: Path, name: str, version: str, *, requires: list[str] | None = None,
                   plugin: bool = True, body: str = "class Plugin:\n    pass\n",
                   plugin_id: str | None = None) -> Path:
    """A minimal valid wheel written with zipfile (for error paths of ``install``); its
    plugin id is its module's name unless ``plugin_id`` says otherwise."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": body,
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
            name, version, "".join(f"Requires-Dist: {r}\n" for r in requires or [])),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    if plugin:
        files[f"{info}/entry_points.txt"] = (f"[zepix.plugins]\n{plugin_id or module} = "
                                            f"{module}:Plugin\n")
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    path = dest / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name_in_zip, text in files.items():
            zf.writestr(name_in_zip, text)
    return path


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- a host over the store, driven round by round ----------------------------

# Rounds run back to back here, so a fresh worker's CPU sample spans mostly its
# start-up (imports): the CPU limit would judge that rather than the plugin.
CONFIG = """\
[store]
probation_rounds = 3

[thresholds]
min_calls = 10
cpu_percent = 10000
"""


class Wall:
    """A fake wall clock, moved by ``Rig.rounds`` (30 s a round); the monotonic clock
    stays real, since worker calls run under real deadlines. It starts at the real
    time: a command tells a live host by its start time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Rig:
    """A host whose environment holds plugin ``beta`` (in process) and whose store
    holds versions of ``alpha``; rounds run on demand, commands run in process."""

    def __init__(self, factory: pytest.TempPathFactory, dists: DistFactory,
                 capsys: pytest.CaptureFixture[str]) -> None:
        self.factory = factory
        self.dists = dists
        self.capsys = capsys
        self.wall = Wall()
        self.hosts: list[Host] = []
        (data_dir() / "zepix.toml").write_text(CONFIG, encoding="utf-8")
        dists.add("zx-beta", "1.0.0", {"beta": "zx_beta_mod:Plugin"},
                  {"zx_beta_mod": good_plugin("1.0.0")})

    @property
    def host(self) -> Host:
        return self.hosts[-1]

    def install(self, *versions: str) -> None:
        fill_store(self.factory, store_dir(), *versions)

    def start(self) -> Host:
        host = create_host(paths=[str(self.dists.root)], clocks=Clocks(wall=self.wall))
        self.hosts.append(host)
        host.start()
        return host

    def rounds(self, count: int = 1) -> None:
        for _ in range(count):
            self.wall.now += 30.0
            self.host.work()
            self.host.round()

    def zepix(self, *argv: str) -> tuple[int, str, str]:
        """``zepix argv`` in process: (exit status, stdout, stderr)."""
        self.capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    def versions(self, plugin_id: str = "alpha") -> dict[str, dict[str, Any]]:
        code, out, err = self.zepix("versions", plugin_id, "--json")
        assert code == 0, err
        return {row["version"]: row for row in json.loads(out)}

    def running(self, plugin_id: str = "alpha") -> tuple[str, PluginState]:
        slot = self.host.slots[plugin_id]
        return slot.version, slot.state

    def events(self, kind: str, plugin_id: str = "alpha") -> list[Row]:
        return [e for e in self.host.store.events(plugin_id) if e["kind"] == kind]

    def close(self) -> None:
        for host in self.hosts:
            if host.started:
                host.shutdown()
