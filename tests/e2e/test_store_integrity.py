"""What a store version may run is what was installed: its digest covers compiled
bytecode and lives in zepix.db, not beside the files (issue 24, store integrity).

A real ``zepix install`` of a real wheel (pip compiles its ``.pyc``), a real host
whose worker would import it, and an attacker who swaps the ``.pyc`` for other code
while keeping the header Python checks (the source's mtime and size)."""

from __future__ import annotations

import io
import json
import marshal
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests import plugin_versions as pv
from tests.distfactory import good_plugin
from zepix_core import PluginState
from zepix_core.cli.main import main
from zepix_core.host.host import create_host
from zepix_core.loading.paths import store_dir
from zepix_core.storage import Store
from zepix_core.versions.store import MARKER, content_digest

EVIL = "import os\nopen(os.environ['ZX_FLAG'], 'w').write('evil code ran')\n"


def zepix(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def install_solid(tmp_path: Path) -> Path:
    wheel = pv.handmade_wheel(tmp_path, "zx-solid", "1.0.0", body=good_plugin("1.0.0"))
    code, out, err = zepix("install", str(wheel), "--json")
    assert code == 0, err
    return Path(json.loads(out)["path"])


def swap_bytecode(version_dir: Path) -> Path:
    """The module's .pyc replaced by EVIL compiled, under the original header."""
    [pyc] = (version_dir / "zx_solid" / "__pycache__").glob("__init__.*.pyc")
    header = pyc.read_bytes()[:16]   # magic, flags, source mtime, source size
    source = (version_dir / "zx_solid" / "__init__.py").read_text(encoding="utf-8")
    code = compile(EVIL + source, str(version_dir / "zx_solid" / "__init__.py"), "exec")
    pyc.write_bytes(header + marshal.dumps(code))
    return pyc


def test_a_swapped_pyc_fails_the_version_with_a_critical_alert_and_never_runs(
        tmp_path: Path, zepix_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "flag"
    monkeypatch.setenv("ZX_FLAG", str(flag))
    version_dir = install_solid(tmp_path)
    host = create_host()
    try:
        host.start()
        assert host.slots["zx_solid"].state is PluginState.ACTIVE  # as installed: runs
    finally:
        host.shutdown()
        host.store.close()
    marker = (version_dir / MARKER).read_text(encoding="utf-8")
    swap_bytecode(version_dir)
    # The swap works: a plain import of the store copy runs the other code.
    subprocess.run([sys.executable, "-B", "-c", "import zx_solid"], check=True,
                   env={**os.environ, "PYTHONPATH": str(version_dir)}, timeout=60)
    assert flag.read_text() == "evil code ran"
    flag.unlink()
    assert (version_dir / MARKER).read_text(encoding="utf-8") == marker  # untouched

    host = create_host()
    try:
        host.start()
        slot = host.slots["zx_solid"]
        assert slot.state is PluginState.FAILED
        assert "changed since it was installed" in (slot.reason or "")
        alerts = host.store.alerts("zx_solid")
        assert [a["level"] for a in alerts if a["kind"] == "store_integrity"] == [
            "CRITICAL"]
    finally:
        host.shutdown()
        host.store.close()
    assert not flag.exists()   # its code never ran


def test_the_expected_digest_lives_in_the_database_not_the_store(
        tmp_path: Path, zepix_home: Path) -> None:
    version_dir = install_solid(tmp_path)
    db = Store(zepix_home / "zepix.db")
    try:
        recorded = db.store_digest("zx-solid/1.0.0")
    finally:
        db.close()
    assert recorded is not None and recorded not in (version_dir / MARKER).read_text()
    # Rewriting the marker (the store is writable by whoever tampers) changes nothing.
    source = version_dir / "zx_solid" / "__init__.py"
    source.write_text(source.read_text() + "\nTAMPERED = True\n", encoding="utf-8")
    marker = json.loads((version_dir / MARKER).read_text())
    marker["content_sha256"] = content_digest(version_dir, bytecode=False)
    (version_dir / MARKER).write_text(json.dumps(marker))
    host = create_host()
    try:
        host.start()
        assert host.slots["zx_solid"].state is PluginState.FAILED
    finally:
        host.shutdown()
        host.store.close()


def test_workers_write_no_bytecode_into_the_store(tmp_path: Path, zepix_home: Path) -> None:
    version_dir = install_solid(tmp_path)
    for pyc in version_dir.rglob("*.pyc"):
        pyc.unlink()   # as if pip had not compiled: a worker must not add any
    db = Store(zepix_home / "zepix.db")
    db.record_store_digest("zx-solid/1.0.0", content_digest(version_dir), 0.0)
    db.close()
    host = create_host()
    try:
        host.start()
        assert host.slots["zx_solid"].state is PluginState.ACTIVE
        host.round()
    finally:
        host.shutdown()
        host.store.close()
    assert list(version_dir.rglob("*.pyc")) == []
    assert store_dir() in version_dir.parents


def test_another_distribution_claiming_a_plugin_id_is_refused_unless_allowed(
        tmp_path: Path, zepix_home: Path) -> None:
    install_solid(tmp_path)
    host = create_host()
    try:
        host.start()   # zx-solid provides zx_solid now
    finally:
        host.shutdown()
        host.store.close()
    (tmp_path / "impostor").mkdir()
    impostor = pv.handmade_wheel(tmp_path / "impostor", "zx-innocent", "99.0.0",
                                 body=good_plugin("99.0.0"), plugin_id="zx_solid")
    code, out, err = zepix("install", str(impostor))
    assert code == 2 and out == ""
    assert "offers plugin 'zx_solid', which zx-solid provides now" in err
    assert "--allow-other-distribution" in err
    assert not (store_dir() / "zx-innocent").exists()
    code, out, err = zepix("versions", "zx_solid", "--json")
    assert [r["version"] for r in json.loads(out)] == ["1.0.0"]

    code, out, err = zepix("install", str(impostor), "--allow-other-distribution")
    assert code == 0, err
    code, out, err = zepix("versions", "zx_solid", "--json")
    rows = {r["version"]: r["distribution"] for r in json.loads(out)}
    assert rows == {"1.0.0": "zx-solid", "99.0.0": "zx-innocent"}
    code, out, err = zepix("versions", "zx_solid")
    assert "DISTRIBUTION" in out and "zx-innocent" in out and "zx-solid" in out


def test_a_worker_gets_the_environment_without_the_hosts_secrets(
        tmp_path: Path, zepix_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "seen.json"
    body = ("import json, os\nopen(os.environ['ZX_SEEN'], 'w').write(json.dumps("
            "sorted(os.environ)))\n" + good_plugin("1.0.0"))
    wheel = pv.handmade_wheel(tmp_path, "zx-nosy", "1.0.0", body=body)
    code, _, err = zepix("install", str(wheel))
    assert code == 0, err
    secrets = {"ZEPIX_API_TOKEN": "a", "ZEPIX_API_VIEWER_TOKEN": "b",
               "ZEPIX_TELEGRAM_TOKEN": "1:c", "ZEPIX_SYNC_PASSWORD": "d"}
    for name, value in {**secrets, "ZX_SEEN": str(seen)}.items():
        monkeypatch.setenv(name, value)
    host = create_host()
    try:
        host.start()
        assert host.slots["zx_nosy"].state is PluginState.ACTIVE
    finally:
        host.shutdown()
        host.store.close()
    names = set(json.loads(seen.read_text()))
    assert "ZX_SEEN" in names and "ZEPIX_HOME" in names
    assert not names & set(secrets)
