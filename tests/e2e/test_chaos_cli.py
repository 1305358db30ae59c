"""``python -m zepix_core.chaos --seed N --minutes M`` stays the documented way to run
the soak after its module became a package (docs/hardening.md, "The chaos soak")."""

from __future__ import annotations

import subprocess
import sys


def test_the_soak_runs_as_a_module_with_its_documented_options() -> None:
    done = subprocess.run([sys.executable, "-m", "zepix_core.chaos", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for option in ("--seed", "--minutes", "--keep", "--json"):
        assert option in done.stdout
    refused = subprocess.run([sys.executable, "-m", "zepix_core.chaos", "--seed", "7",
                              "--minutes", "0"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2 and "--minutes must be > 0" in refused.stderr

