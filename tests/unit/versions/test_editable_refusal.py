"""A move to a version whose only copy is an editable install is refused with one line,
and rollback passes over such a version (issue 27 item 6): its code is a working tree,
whatever version that holds now, so loading it could run another version's code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.plugin_versions as pv
from tests.distfactory import DistFactory, good_plugin
from zepix_core.cli.main import main
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.loading.paths import store_dir
from zepix_core.versions.rules import gather, last_known_good, skipped_below


def editable_alpha(dists: DistFactory, work: Path, version: str = "1.0.0") -> None:
    info = dists.add("zx-alpha", version, {"alpha": "alpha_tree:Plugin"},
                     {"alpha_tree": good_plugin(version=version)})
    (info / "direct_url.json").write_text(json.dumps(
        {"url": work.as_uri(), "dir_info": {"editable": True}}), encoding="utf-8")


def test_an_upgrade_to_an_editable_only_version_is_refused_in_one_line(
        capsys: pytest.CaptureFixture[str], dists: DistFactory, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path / "my work tree"
    pv.fill_store(tmp_path_factory, store_dir(), "1.1.0")
    editable_alpha(dists, work)
    assert main(["upgrade", "alpha", "1.1.0"]) == 0  # from the editable 1.0.0 to the store's
    capsys.readouterr()
    assert main(["upgrade", "alpha", "1.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "upgrade alpha: 1.0.0 is installed only in editable mode (pip install -e)" in err
    assert f"working tree {work}, " in err and err.endswith(f"zepix install '{work}'")
    assert main(["canary", "alpha", "1.0.0"]) == 2
    assert "canary alpha: 1.0.0 is installed only in editable mode" in capsys.readouterr().err


def test_rollback_passes_over_an_editable_only_version(
        dists: DistFactory, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    pv.fill_store(tmp_path_factory, store_dir(), "1.0.0", "1.2.0")
    editable_alpha(dists, tmp_path / "work", "1.1.0")
    installed = {r.dist_version: r for r in enumerate_plugins([str(store_dir() / "zx-alpha"
                                                                   / v) for v in
                                                              ("1.0.0", "1.2.0")])}
    installed["1.1.0"] = next(r for r in enumerate_plugins([str(dists.root)])
                              if r.plugin_id == "alpha")
    good = {"last_active": 1.0, "gate_passed": 1, "first_seen": 0.0, "deprecated": 0}
    facts = gather(installed, {v: good for v in ("1.0.0", "1.1.0", "1.2.0")})
    assert [f.editable for f in facts] == [False, True, False]
    back = last_known_good(facts, "1.2.0")
    assert back is not None and back.version == "1.0.0"
    assert skipped_below(facts, "1.2.0") == [
        "1.1.0 is installed only in editable mode (its code is a working tree)"]


def _tree(work: Path, declared: str, how: str) -> None:
    """A working tree that declares ``declared``: statically, or by setuptools' attr."""
    (work / "alpha_tree").mkdir(parents=True)
    if how == "static":
        (work / "pyproject.toml").write_text(
            f'[project]\nname = "zx-alpha"\nversion = "{declared}"\n', encoding="utf-8")
    else:  # the bundled plugins' way: version = { attr = "pkg._version.__version__" }
        (work / "pyproject.toml").write_text(
            '[project]\nname = "zx-alpha"\ndynamic = ["version"]\n\n'
            '[tool.setuptools.dynamic]\nversion = { attr = "alpha_tree._version.__version__" }\n',
            encoding="utf-8")
        (work / "alpha_tree" / "_version.py").write_text(
            f'"""v"""\n__version__ = "{declared}"\n', encoding="utf-8")


@pytest.mark.parametrize("how", ["static", "attr"])
def test_an_editable_copy_whose_tree_still_declares_its_version_is_a_target(
        how: str, capsys: pytest.CaptureFixture[str], dists: DistFactory, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The bundled plugins run editable (the README's set-up): rolling back to them
    works while their working tree still is the version pip recorded, and is refused,
    naming what the tree declares, once it was edited to another."""
    work = tmp_path / "work"
    pv.fill_store(tmp_path_factory, store_dir(), "1.1.0")
    editable_alpha(dists, work)
    _tree(work, "1.0.0", how)
    assert main(["upgrade", "alpha", "1.1.0"]) == 0
    assert main(["upgrade", "alpha", "1.0.0"]) == 0, capsys.readouterr().err
    assert main(["upgrade", "alpha", "1.1.0"]) == 0
    capsys.readouterr()
    pyproject = work / "pyproject.toml"
    if how == "static":
        pyproject.write_text(pyproject.read_text().replace('"1.0.0"', '"2.0.0"'))
    else:
        (work / "alpha_tree" / "_version.py").write_text('__version__ = "2.0.0"\n')
    assert main(["upgrade", "alpha", "1.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"working tree {work} (which now declares 2.0.0), " in err, err
