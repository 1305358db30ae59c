"""``zepix versions`` says why a version has not passed its gate: a disabled plugin's
version was never gated (``gate: disabled``), which ``gate_passed: false`` alone reads
as "failed its gate"; ``gate_passed`` stays as it was (tests/e2e/test_versions.py
checks ``passed`` and ``failed`` on real probations)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.cli.main import main
from zepix_core.views.versions import GATES


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    """``zepix run`` installs SIGINT/SIGTERM handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _zepix(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture
def alpha(dists: DistFactory, zepix_home: Path) -> Path:
    dists.add("zx-alpha", "1.0.0", {"alpha": "alpha_mod:Plugin"},
              {"alpha_mod": good_plugin(version="1.0.0")})
    return zepix_home / "zepix.toml"


def test_a_disabled_plugins_version_says_it_was_not_gated(
        capsys: pytest.CaptureFixture[str], alpha: Path) -> None:
    alpha.write_text("[plugins.alpha]\nenabled = false\n", encoding="utf-8")
    _zepix(capsys, "run", "--once", "--interval", "0.2")
    [row] = json.loads(_zepix(capsys, "versions", "alpha", "--json"))
    assert (row["gate"], row["gate_passed"]) == ("disabled", False)
    table = _zepix(capsys, "versions", "alpha").splitlines()
    header, line = table[0].split(), table[1].split()
    assert "GATE" in header and "GATE_PASSED" not in header
    assert line[header.index("GATE")] == "disabled"


def test_a_version_that_never_ran_says_so(capsys: pytest.CaptureFixture[str],
                                          alpha: Path) -> None:
    [row] = json.loads(_zepix(capsys, "versions", "alpha", "--json"))
    assert (row["gate"], row["gate_passed"]) == ("never_ran", False)
    assert set(GATES) >= {"passed", "failed", "disabled", "never_ran"}
