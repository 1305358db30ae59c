"""The canary says whether its latency comparison is like with like (issue 25): the
candidate always runs in a worker; an active plugin in process measures no worker
round trip, so the two p95 figures differ by it, and status says so."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest

from tests import plugin_versions as pv
from tests.distfactory import DistFactory
from zepix_core.loading.paths import data_dir


def rig_with(tmp_path_factory: pytest.TempPathFactory, dists: DistFactory,
             capsys: pytest.CaptureFixture[str], where: str, isolation: str) -> pv.Rig:
    """alpha 1.0.0 active, from the environment or from the store, with ``isolation``;
    then a canary of 1.1.0 (a store version: always in a worker)."""
    rig = pv.Rig(tmp_path_factory, dists, capsys)
    (data_dir() / "zepix.toml").write_text(
        pv.CONFIG + f'\n[plugins.alpha]\nisolation = "{isolation}"\n', encoding="utf-8")
    if where == "environment":
        source = textwrap.dedent(pv.SOURCE.format(version="1.0.0", broken=False))
        dists.add("zx-alpha", "1.0.0", {"alpha": "zx_alpha_env:Plugin"}, {"zx_alpha_env": source})
    else:
        rig.install("1.0.0")
    rig.start()
    rig.rounds(3)
    rig.install("1.1.0")
    assert rig.zepix("canary", "alpha", "1.1.0")[0] == 0
    rig.rounds(3)
    return rig


#: (where alpha 1.0.0 comes from, its isolation setting) -> how it really runs: a store
#: version runs in a worker whatever the setting says.
CASES = {("environment", "inprocess"): "inprocess", ("store", "inprocess"): "process",
         ("store", "process"): "process"}


@pytest.fixture(params=list(CASES), ids=["-".join(c) for c in CASES])
def compared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             dists: DistFactory, capsys: pytest.CaptureFixture[str]) -> Iterator[
                 tuple[str, dict]]:  # type: ignore[type-arg]
    rig = rig_with(tmp_path_factory, dists, capsys, *request.param)
    assert (rig.host.slots["alpha"].runner.pid is None) == (CASES[request.param] == "inprocess")
    code, out, err = rig.zepix("canary", "status", "alpha", "--json")
    assert code == 0, err
    stats = json.loads(out)["stats"]
    code, text, err = rig.zepix("canary", "status", "alpha")  # the table says it too
    assert code == 0, err
    assert f"latency: {stats['latency_compared']}\n" in text, text
    yield CASES[request.param], stats
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
