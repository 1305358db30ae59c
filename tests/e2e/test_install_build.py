"""``zepix install DIR`` builds a project directory on a stock machine: in this
environment, offline, when it has the build requirements; else pip fetches them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zepix_core.cli.main import main
from zepix_core.versions.building import build_requires, builds_here, unmet


def test_a_new_plugin_directory_installs_into_the_store(tmp_path: Path) -> None:
    assert main(["new-plugin", "my-strategy", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "my-strategy"
    assert build_requires(project) == ["setuptools>=64"]
    home = tmp_path / "home"
    env = {**os.environ, "ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db")}
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "install",
                           str(project)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "my-strategy 0.1.0 installed into the store" in done.stdout
    assert (home / "store" / "my-strategy" / "0.1.0").is_dir(), done.stdout


def test_what_this_environment_lacks_to_build(tmp_path: Path) -> None:
    assert unmet(["packaging>=1"]) == []
    assert unmet(["zepix-no-such-builder>=1"]) == ["zepix-no-such-builder>=1"]
    [far] = unmet(["packaging>=9999"])
    assert far.startswith("packaging>=9999 (this environment has ")
    assert unmet(['packaging>=9999; python_version < "3"']) == []  # not for this Python
    (tmp_path / "pyproject.toml").write_text('[build-system]\nrequires = ["packaging>=9999"]\n')
    assert not builds_here(tmp_path, sys.executable)
    (tmp_path / "pyproject.toml").write_text('[build-system]\nrequires = ["packaging"]\n')
    assert builds_here(tmp_path, sys.executable)
    assert not builds_here(tmp_path, "/usr/bin/another-python")
