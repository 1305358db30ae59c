"""``zepix store prune`` keeps what worked (issue 25): never the newest version that
passed its gate, and a version that failed its gate is removed before any other."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core.loading.paths import store_dir


@pytest.fixture
def rig(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
        capsys: pytest.CaptureFixture[str]) -> Iterator[pv.Rig]:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)  # 1.0.0 passes its gate
    rig.install("1.1.0", "1.2.0")
    yield rig
    rig.close()


def test_prune_keeps_the_newest_gate_passed_version_and_drops_the_failed_one(
        rig: pv.Rig) -> None:
    assert rig.zepix("upgrade", "alpha", "1.1.0")[0] == 0
    rig.rounds(4)  # 1.1.0 passes its gate
    assert rig.zepix("upgrade", "alpha", "1.2.0")[0] == 0
    rig.rounds(6)  # 1.2.0 (broken) fails its gate
    versions = rig.versions()
    assert versions["1.1.0"]["gate_passed"] and not versions["1.2.0"]["gate_passed"]
    code, _, err = rig.zepix("rollback", "alpha")  # the operator goes back to 1.0.0
    assert code == 0, err
    rig.rounds(1)
    code, out, err = rig.zepix("store", "prune", "--keep", "1", "--json")
    assert code == 0, err
    done = {row["version"]: (row["action"], row["why"]) for row in json.loads(out)}
    assert done["1.1.0"][0] == "kept", done
    assert done["1.2.0"][0] == "removed", done
    assert (store_dir() / "zx-alpha" / "1.1.0").is_dir()
