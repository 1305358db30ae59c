"""A rollback to a version never loads another version's code (issue 27 item 6), with the
plugin pip-installed in EDITABLE mode: ``pip install -e`` of a project at 0.1.0 whose
working tree was then edited to 0.2.0 (the environment's metadata still says 0.1.0,
its code is the working tree), with 0.1.0 and 0.2.0 in the store.

Everything is real: a virtual environment of its own where pip installs the project
editable (setuptools' editable finder, as an author's machine has it), wheels built by
pip and installed into the store by ``PluginStore.install`` (what ``zepix install``
runs), and ``zepix run --once`` / ``upgrade`` /
``rollback`` / ``versions`` as subprocesses of that environment. Which code ran is what
the plugin's own code writes when activated: its VERSION constant and its ``__file__``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from zepix_core.versions.store import PluginStore

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "zx-edit"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["zepix-core>=1.0"]

[project.entry-points."zepix.plugins"]
edit = "zx_edit:Plugin"

[tool.setuptools]
packages = ["zx_edit"]
"""

SOURCE = '''
import json
import os

from zepix_core import hookimpl

VERSION = "{version}"


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {{"version": VERSION, "requires_api": ">=1.0,<2"}}

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
        with open(os.environ["ZX_LOADED"], "a", encoding="utf-8") as out:
            out.write(json.dumps({{"version": VERSION, "file": __file__}}) + "\\n")

    @hookimpl
    def deactivate(self, reason):
        pass

    @hookimpl
    def on_bar(self, bar):
        return None
'''

CONFIG = """\
[store]
probation_rounds = 1

[thresholds]
min_calls = 10
cpu_percent = 10000

[plugins.combined_v3]
enabled = false

[plugins.price_action_1m]
enabled = false

[plugins.price_action_5m]
enabled = false

[plugins.price_action_15m]
enabled = false
"""


def write_tree(project: Path, version: str) -> None:
    (project / "zx_edit").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(version=version), encoding="utf-8")
    (project / "zx_edit" / "__init__.py").write_text(
        textwrap.dedent(SOURCE.format(version=version)), encoding="utf-8")


def pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args,
                           "--no-deps", "--no-build-isolation", "--no-index", "--quiet"],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr


def environment(root: Path) -> Path:
    """A virtual environment of its own that sees this one's packages (zepix-core and
    its dependencies, setuptools) through a ``.pth``; what pip installs into it stays
    there."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          check=True).stdout
    outer = sysconfig.get_path("purelib")
    (Path(site.strip()) / "zz_outer.pth").write_text(
        f"import site; site.addsitedir({outer!r})\n", encoding="utf-8")
    return python


class Zepix:
    def __init__(self, python: Path, home: Path, loaded: Path) -> None:
        self.python, self.home = python, home
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
        self.env.update(ZEPIX_HOME=str(home), ZEPIX_DB=str(home / "zepix.db"),
                        ZEPIX_HTTP_LISTEN="127.0.0.1:0", ZX_LOADED=str(loaded))

    def __call__(self, *argv: str) -> str:
        done = subprocess.run([str(self.python), "-m", "zepix_core.cli.main", *argv],
                              env=self.env, cwd=self.home, capture_output=True, text=True,
                              check=False, timeout=300)
        assert done.returncode == 0, f"zepix {' '.join(argv)}: {done.stdout}{done.stderr}"
        return done.stdout


def ran(loaded: Path) -> dict[str, Any]:
    """What the plugin's code wrote at its last activation."""
    last: dict[str, Any] = json.loads(loaded.read_text(encoding="utf-8").splitlines()[-1])
    return last


def test_rollback_to_a_version_with_an_editable_copy_runs_that_versions_code(
        tmp_path: Path) -> None:
    project, wheels, home = tmp_path / "work" / "zx-edit", tmp_path / "wheels", tmp_path / "home"
    home.mkdir()
    write_tree(project, "0.1.0")
    write_tree(tmp_path / "release", "0.2.0")  # what the working tree becomes, built as 0.2.0
    python = environment(tmp_path / "venv")
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda args: pip(*args), [
            ("wheel", "-w", str(wheels), str(project)),
            ("wheel", "-w", str(wheels), str(tmp_path / "release")),
            ("--python", str(python), "install", "-e", str(project))]))
    write_tree(project, "0.2.0")  # edited after the editable install: metadata says 0.1.0
    store = PluginStore(home / "store")
    with ThreadPoolExecutor(max_workers=2) as pool:  # what 'zepix install WHEEL' does
        list(pool.map(lambda w: store.install(str(w)), sorted(wheels.glob("*.whl"))))
    (home / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    loaded = tmp_path / "loaded.jsonl"
    zepix = Zepix(python, home, loaded)
    store_root = (home / "store" / "zx-edit").resolve()

    zepix("run", "--once")
    first = ran(loaded)
    assert first["version"] == "0.1.0" and Path(first["file"]).resolve().is_relative_to(store_root)
    zepix("upgrade", "edit", "0.2.0")
    zepix("run", "--once")
    assert ran(loaded)["version"] == "0.2.0"
    assert "rollback 0.2.0 -> 0.1.0" in zepix("rollback", "edit")
    zepix("run", "--once")
    after = ran(loaded)
    assert after == {"version": "0.1.0", "file": after["file"]}, after
    assert Path(after["file"]).resolve() == store_root / "0.1.0" / "zx_edit" / "__init__.py"

    rows = json.loads(zepix("versions", "edit", "--json"))
    assert [(r["version"], r["origin"]) for r in rows] == [
        ("0.1.0", "store"), ("0.1.0", "editable"), ("0.2.0", "store")]
    stored, editable, _ = rows
    assert "not loaded" in (editable["note"] or "") and stored["note"] is None
    assert stored["source"].endswith(".whl")
    # the running host is gone (run --once), so nothing 'runs'; the store copy is desired
    assert stored["desired"] and stored["state"] == "active" and not editable["desired"]
