"""``zepix versions`` STATE says what is true of each copy: of two copies of the
version that is active, only the one that loads is ``active``; the copy that is not
loaded (the store's, shadowed by the environment's, or an editable one) is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.plugin_versions as pv
from tests.distfactory import DistFactory, good_plugin
from zepix_core.cli.main import main
from zepix_core.loading.paths import store_dir


def _rows(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["versions", "alpha", "--json"]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def test_only_the_copy_that_loads_is_active(
        capsys: pytest.CaptureFixture[str], dists: DistFactory,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0", "1.1.0")
    info = dists.add("zx-alpha", "1.0.0", {"alpha": "alpha_tree:Plugin"},
                     {"alpha_tree": good_plugin(version="1.0.0")})
    (info / "direct_url.json").write_text(json.dumps({"url": "https://x/a.whl",
                                                      "archive_info": {}}))
    rows = _rows(capsys)
    assert [(r["version"], r["origin"], r["state"]) for r in rows] == [
        ("1.0.0", "environment", "active"), ("1.0.0", "store", "available"),
        ("1.1.0", "store", "available")]
    assert sum(r["state"] == "active" for r in rows) == 1
    capsys.readouterr()
    assert main(["versions", "alpha"]) == 0
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    store_line = next(ln for ln in lines if ln[:1] == ["1.0.0"] and "store" in ln)
    assert "active" not in store_line


def test_an_editable_copy_that_does_not_load_is_not_active(
        capsys: pytest.CaptureFixture[str], dists: DistFactory, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0")
    info = dists.add("zx-alpha", "1.0.0", {"alpha": "alpha_tree:Plugin"},
                     {"alpha_tree": good_plugin(version="1.0.0")})
    (info / "direct_url.json").write_text(json.dumps(
        {"url": (tmp_path / "work").as_uri(), "dir_info": {"editable": True}}))
    rows = _rows(capsys)
    assert [(r["origin"], r["state"]) for r in rows] == [
        ("store", "active"), ("editable", "available")]
