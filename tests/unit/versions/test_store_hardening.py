"""The plugin store under hostile or unlucky conditions (issue 10, items 6 and 7).

Defects covered: the destination was never checked to stay inside the store;
``.staging/`` left by a killed install was never cleaned; reinstalling the same
version with different content silently kept the old copy; pip ran without a
timeout; install sources with ``user:token@`` were stored and shown as given.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import importlib_metadata as md
import pytest

from tests import plugin_versions as pv
from zepix_core import ZepixError
from zepix_core.loading.paths import store_dir
from zepix_core.versions.store import MARKER, PluginStore


def _wheel(tmp_path: Path, folder: str, body: str) -> Path:
    dest = tmp_path / folder
    dest.mkdir()
    return pv.handmade_wheel(dest, "zx-solid", "1.0.0", body=body)


def test_the_same_version_with_other_content_needs_reinstall(tmp_path: Path) -> None:
    first = _wheel(tmp_path, "a", "class Plugin:\n    pass\n")
    other = _wheel(tmp_path, "b", "class Plugin:\n    changed = True\n")
    store = PluginStore(store_dir())
    stored = store.install(str(first))
    marker = json.loads((stored.path / MARKER).read_text())
    assert marker["wheel_sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert store.install(str(first)).already  # same content: nothing to do
    with pytest.raises(ZepixError, match="different content .* --reinstall"):
        store.install(str(other))
    assert "changed" not in (stored.path / "zx_solid" / "__init__.py").read_text()
    again = store.install(str(other), reinstall=True)
    assert not again.already and "changed" in (again.path / "zx_solid" / "__init__.py").read_text()


def test_a_store_version_whose_files_changed_is_not_loaded(tmp_path: Path) -> None:
    store = PluginStore(store_dir())
    stored = store.install(str(_wheel(tmp_path, "a", "class Plugin:\n    pass\n")))
    [record] = stored.records
    assert store.verify(record) is None
    (stored.path / "zx_solid" / "__init__.py").write_text("import os\nos.system('evil')\n")
    assert "changed since it was installed" in (store.verify(record) or "")


def test_stale_staging_of_a_killed_install_is_cleaned(tmp_path: Path) -> None:
    staging = store_dir() / ".staging"
    dead, mine, legacy = staging / "999999999-abc", staging / f"{os.getpid()}-x", staging / "f00"
    for path in (dead, mine, legacy):
        (path / "pkg").mkdir(parents=True)
    removed = PluginStore(store_dir()).clean_staging()
    assert sorted(removed) == sorted([dead, legacy]) and mine.is_dir()


def _fake_python(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + script + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_pip_runs_under_a_timeout(tmp_path: Path) -> None:
    store = PluginStore(store_dir(), python=_fake_python(tmp_path, "exec sleep 30"),
                        pip_timeout=0.5)
    with pytest.raises(ZepixError, match=r"pip did not finish within 0.5s"):
        store.install("zx-solid==1.0.0")


def test_a_source_with_credentials_is_never_shown(tmp_path: Path) -> None:
    failing = _fake_python(tmp_path, 'for a; do last="$a"; done\n'
                                     'echo "ERROR: cannot fetch $last" >&2; exit 1')
    source = "https://builder:s3cr3t-token@pkgs.example.invalid/simple/zx_solid-1.0.0.whl"
    with pytest.raises(ZepixError) as err:
        PluginStore(store_dir(), python=failing).install(source)
    assert "s3cr3t-token" not in str(err.value) and "pkgs.example.invalid" in str(err.value)
    # A marker written by an older zepix with the source as given is shown redacted.
    store = PluginStore(store_dir())
    stored = store.install(str(_wheel(tmp_path, "a", "class Plugin:\n    pass\n")))
    (stored.path / MARKER).write_text(json.dumps({"source": source, "installed_at": 1.0}))
    [record] = stored.records
    assert store.source_of(record) == (
        "https://***@pkgs.example.invalid/simple/zx_solid-1.0.0.whl")
    assert "s3cr3t" not in store.versions()[0].source


def test_a_destination_outside_the_store_is_refused(tmp_path: Path) -> None:
    info = tmp_path / "evil-1.0.dist-info"
    info.mkdir()
    store = PluginStore(store_dir())
    for name, version in (("evil", "../../../../tmp/x"), ("/tmp", "1.0.0")):
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\n"
                                       f"Version: {version}\n")
        with pytest.raises(ZepixError, match="PEP 440|outside the store"):
            store._destination(md.PathDistribution(info), "evil")
