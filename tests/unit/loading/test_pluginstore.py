"""The versioned plugin store: real wheels installed with pip, versions side by side,
requirements checked before anything lands, declared metadata read without imports,
and a store version winning over an environment copy of the same module."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import plugin_versions as pv
from zepix_core import PluginState, ZepixError
from zepix_core.cli.main import main
from zepix_core.host.host import Host, create_host
from zepix_core.loading.paths import store_dir
from zepix_core.versions.store import META_FILE, PluginStore, declared_meta


@pytest.fixture(scope="session")
def alpha_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return pv.wheels(tmp_path_factory)


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object]:
    code = main([*argv, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None


def test_install_puts_each_version_in_a_directory_of_its_own(
        alpha_wheels: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for version in ("1.0.0", "1.1.0"):
        code, doc = cli_json(capsys, "install", str(alpha_wheels[version]))
        assert code == 0
        assert doc == {"distribution": "zx-alpha", "version": version,
                       "path": str(store_dir() / "zx-alpha" / version), "plugins": ["alpha"],
                       "source": str(alpha_wheels[version]), "already": False}
    store = PluginStore(store_dir())
    assert sorted(store.records("alpha")) == ["1.0.0", "1.1.0"]
    for version, record in store.records("alpha").items():
        assert store.holds(record)
        assert Path(record.location).parent == store_dir() / "zx-alpha" / version
        assert (Path(record.location).parent / "zx_alpha" / "__init__.py").is_file()
    assert not any((store_dir() / ".staging").iterdir())  # nothing half-installed is left

    code, rows = cli_json(capsys, "versions", "alpha")
    assert code == 0 and isinstance(rows, list)
    assert [(r["version"], r["state"], r["gate_passed"]) for r in rows] == [
        ("1.0.0", "available", False), ("1.1.0", "available", False)]
    assert all(r["source"] == str(alpha_wheels[r["version"]]) and r["first_seen"]
               for r in rows)


def test_installing_a_version_again_keeps_the_first(alpha_wheels: dict[str, Path]) -> None:
    store = PluginStore(store_dir())
    first = store.install(str(alpha_wheels["1.0.0"]))
    marker = (first.path / "zepix-install.json").read_text()
    again = store.install(str(alpha_wheels["1.0.0"]))
    assert (first.already, again.already) == (False, True)
    assert again.path == first.path and (first.path / "zepix-install.json").read_text() == marker


def test_unmet_requirements_are_named_and_nothing_is_installed(tmp_path: Path) -> None:
    wheel = pv.handmade_wheel(tmp_path, "zx-needy", "1.0.0",
                              requires=["zx-not-here>=1", "packaging>=999", "pluggy>=1.0",
                                        "winonly; sys_platform == 'win32'"])
    with pytest.raises(ZepixError) as info:
        PluginStore(store_dir()).install(str(wheel))
    message = str(info.value)
    assert "zx-not-here>=1 (not installed)" in message
    assert "packaging>=999 (found " in message
    assert "pluggy" not in message and "winonly" not in message  # met, or not for this platform
    assert "pip install its requirements into the host environment" in message
    assert not (store_dir() / "zx-needy").exists()
    assert not any((store_dir() / ".staging").iterdir())


def test_a_distribution_without_plugins_is_refused(tmp_path: Path) -> None:
    wheel = pv.handmade_wheel(tmp_path, "zx-library", "1.0.0", plugin=False)
    with pytest.raises(ZepixError, match="declares no 'zepix.plugins' entry points"):
        PluginStore(store_dir()).install(str(wheel))


def test_pip_failure_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    assert main(["install", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zepix: error: install ") and "pip failed" in err
    assert err.count("\n") == 1


def test_declared_requirements_are_read_without_importing(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    pv.fill_store(tmp_path_factory, store_dir(), "1.1.0")
    record = PluginStore(store_dir()).records("alpha")["1.1.0"]
    meta = declared_meta(record)
    assert meta is not None and str(meta.requires_api) == "<2,>=1.0"
    assert "zx_alpha" not in __import__("sys").modules
    declared = Path(record.location).parent / "zx_alpha" / META_FILE
    declared.write_text('[plugins.alpha]\nrequires_api = "not a specifier"\n')
    with pytest.raises(ZepixError, match=f"{META_FILE}: requires_api"):
        declared_meta(record)
    declared.write_text('[plugins.other]\nrequires_api = ">=1"\n')
    assert declared_meta(record) is None  # the file says nothing about this plugin


@pytest.fixture
def host_with_env_copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    """zx-alpha 1.0.0 installed in an 'environment' directory that is also on every
    worker's path (PYTHONPATH), and 1.0.0 and 1.1.0 in the store."""
    env = tmp_path / "site"
    shutil.copytree(pv.seed_store(tmp_path_factory) / "zx-alpha" / "1.0.0", env)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(env), os.environ.get("PYTHONPATH",
                                                                                "")]))
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0", "1.1.0")
    config = tmp_path / "zepix.toml"  # a worker for the environment copy too: the test
    config.write_text('[plugins.alpha]\nisolation = "process"\n')  # process stays clean
    host = create_host(config, paths=[str(env)])
    yield host
    host.shutdown()


def test_the_environment_copy_runs_until_an_upgrade_and_a_store_version_wins_over_it(
        host_with_env_copy: Host, capsys: pytest.CaptureFixture[str]) -> None:
    host = host_with_env_copy
    [slot] = host.start()
    assert (slot.version, slot.state) == ("1.0.0", PluginState.ACTIVE), slot.reason
    assert not host.versions.in_store(slot.record)  # installing does not activate

    assert main(["upgrade", "alpha", "1.1.0", "--config", str(host.config.path)]) == 0
    host.work()
    host.round()
    slot = host.slots["alpha"]
    assert (slot.version, slot.state) == ("1.1.0", PluginState.ACTIVE)
    assert host.versions.in_store(slot.record)
    # The worker imported the store's 1.1.0, not the 1.0.0 first on its PYTHONPATH:
    assert slot.meta is not None and str(slot.meta.version) == "1.1.0" and slot.note is None
    capsys.readouterr()
