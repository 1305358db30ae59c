"""The canary says whether its latency comparison is like with like (issue 25): the
candidate always runs in a worker; an active plugin in process measures no worker
round trip, so the two p95 figures differ by it, and status says so."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core.loading.paths import data_dir


def rig_with(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
             capsys: pytest.CaptureFixture[str], isolation: str) -> pv.Rig:
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    (data_dir() / "zepix.toml").write_text(
        pv.CONFIG + f'\n[plugins.alpha]\nisolation = "{isolation}"\n', encoding="utf-8")
    rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    rig.install("1.1.0")
    assert rig.zepix("canary", "alpha", "1.1.0")[0] == 0
    rig.rounds(3)
    return rig


@pytest.fixture(params=["inprocess", "process"])
def compared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             dists: DistFactory, capsys: pytest.CaptureFixture[str]) -> Iterator[
                 tuple[str, dict]]:  # type: ignore[type-arg]
    rig = rig_with(tmp_path_factory, dists, capsys, request.param)
    code, out, err = rig.zepix("canary", "status", "alpha", "--json")
    assert code == 0, err
    yield request.param, json.loads(out)["stats"]
    rig.close()


def test_canary_status_says_whether_the_latencies_compare_like_with_like(
        compared: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    isolation, stats = compared
    assert stats["active"]["isolation"] == isolation
    assert stats["candidate"]["isolation"] == "process"
    if isolation == "process":
        assert stats["latency_compared"].startswith("like with like")
    else:
        assert stats["latency_compared"].startswith("not like with like: the active runs "
                                                    "inprocess, the candidate in a worker process")
    assert stats["active"]["p95_ms"] is not None and stats["candidate"]["p95_ms"] is not None
