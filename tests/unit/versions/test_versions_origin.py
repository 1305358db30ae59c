"""``zepix versions`` shows where each copy comes from and which one runs: the
environment's (editable or not) and the store's copies of one version are two rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.plugin_versions as pv
from tests.distfactory import DistFactory, good_plugin
from zepix_core.cli.main import main
from zepix_core.loading.paths import store_dir


def test_an_editable_copy_and_a_store_copy_of_one_version_are_two_rows(
        capsys: pytest.CaptureFixture[str], dists: DistFactory, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0", "1.1.0")
    info = dists.add("zx-alpha", "1.0.0", {"alpha": "alpha_tree:Plugin"},
                     {"alpha_tree": good_plugin(version="1.0.0")})
    (info / "direct_url.json").write_text(json.dumps(
        {"url": (tmp_path / "work").as_uri(), "dir_info": {"editable": True}}))
    capsys.readouterr()
    assert main(["versions", "alpha", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    # an editable copy is its working tree, whatever that holds: the store's copy loads
    assert [(r["version"], r["origin"]) for r in rows] == [
        ("1.0.0", "store"), ("1.0.0", "editable"), ("1.1.0", "store")]
    assert "not loaded: an editable copy runs its working tree" in rows[1]["note"]
    assert rows[0]["note"] is None or "not loaded" not in rows[0]["note"]
    (info / "direct_url.json").write_text(json.dumps({"url": "https://x/a.whl",
                                                      "archive_info": {}}))
    assert main(["versions", "alpha", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["origin"]) for r in rows] == [
        ("1.0.0", "environment"), ("1.0.0", "store"), ("1.1.0", "store")]
    assert "not loaded: the environment's copy of this version comes first" in rows[1]["note"]
    assert main(["versions", "alpha"]) == 0
    table = capsys.readouterr().out
    assert "ORIGIN" in table and "RUNS" in table and "environment" in table
