"""The entry-point scan reads METADATA only for distributions with plugins (issue 26).

Start-up of the five bundled plugins among ~100 installed distributions parsed
every distribution's METADATA three times (its name, to tell copies apart,
then name and version again); now copies are told apart by the ``*.dist-info``
folder's name, as ``importlib.metadata.entry_points()`` does, and METADATA is
read once, for the distributions that offer plugins. These tests pin that the
records found are the same.
"""

from __future__ import annotations

from pathlib import Path

from zepix_core.contract.model import PluginState
from zepix_core.loading.discovery import enumerate_plugins


def _dist(root: Path, folder: str, metadata: str, points: str) -> None:
    info = root / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata, encoding="utf-8")
    (info / "entry_points.txt").write_text(points, encoding="utf-8")


def _meta(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"


def test_the_first_copy_on_the_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "zepix_alpha-2.0.0.dist-info", _meta("zepix-alpha", "2.0.0"),
          "[zepix.plugins]\nalpha = alpha_mod:Plugin\n")
    _dist(second, "zepix_alpha-1.0.0.dist-info", _meta("zepix-alpha", "1.0.0"),
          "[zepix.plugins]\nalpha = alpha_mod:Old\n")
    [record] = enumerate_plugins([str(first), str(second)])
    assert (record.plugin_id, record.distribution, record.dist_version, record.value) == \
        ("alpha", "zepix-alpha", "2.0.0", "alpha_mod:Plugin")
    assert record.location.endswith("zepix_alpha-2.0.0.dist-info")
    assert record.state is PluginState.DISCOVERED


def test_names_and_versions_come_from_metadata_not_the_folder(tmp_path: Path) -> None:
    _dist(tmp_path, "Zepix.Beta-3.1.dist-info", _meta("Zepix.Beta", "3.1.0"),
          "[zepix.plugins]\nbeta = beta_mod:Plugin\n")
    [record] = enumerate_plugins([str(tmp_path)])
    assert (record.distribution, record.dist_version) == ("Zepix.Beta", "3.1.0")


def test_distributions_without_plugins_or_without_a_name_offer_none(tmp_path: Path) -> None:
    _dist(tmp_path, "other-1.0.dist-info", _meta("other", "1.0"),
          "[console_scripts]\nother = other:main\n")
    _dist(tmp_path, "nameless-1.0.dist-info", "Metadata-Version: 2.1\nVersion: 1.0\n",
          "[zepix.plugins]\nghost = ghost_mod:Plugin\n")
    _dist(tmp_path, "zepix_gamma-1.0.dist-info", _meta("zepix-gamma", "1.0"),
          "[zepix.plugins]\ngamma = gamma_mod:Plugin\n")
    assert [r.plugin_id for r in enumerate_plugins([str(tmp_path)])] == ["gamma"]


def test_one_id_from_two_distributions_is_rejected_in_both(tmp_path: Path) -> None:
    _dist(tmp_path, "zepix_one-1.0.dist-info", _meta("zepix-one", "1.0"),
          "[zepix.plugins]\nsame = one_mod:Plugin\n")
    _dist(tmp_path, "zepix_two-1.0.dist-info", _meta("zepix-two", "1.0"),
          "[zepix.plugins]\nsame = two_mod:Plugin\n")
    records = enumerate_plugins([str(tmp_path)])
    assert len(records) == 2 and {r.state for r in records} == {PluginState.REJECTED}
