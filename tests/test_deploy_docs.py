"""docs/deploy.md: the systemd unit and the container recipe it ships are checked here.

The unit is parsed and its promises asserted (restart policy, a stop that lets the
host shut down cleanly, the environment); ``systemd-analyze verify`` then checks it
as systemd would (``scripts/test`` installs Debian's ``systemd`` package for it when
missing; only its offline ``verify`` is used, no init is needed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy.md"
EXEC = "/opt/zepix/.venv/bin/zepix"


def block(kind: str) -> str:
    text = DEPLOY.read_text(encoding="utf-8")
    [found] = re.findall(rf"```{kind}\n(.*?)```", text, re.DOTALL)
    return found


def unit() -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (systemd keys may repeat, e.g. ``Environment``)."""
    found: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in block("ini").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            found[section] = {}
            continue
        key, _, value = line.partition("=")
        found[section].setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_restarts_on_failure_and_stops_cleanly() -> None:
    u = unit()
    service = u["Service"]
    assert service["ExecStart"] == [f"{EXEC} -v run"]
    assert service["Restart"] == ["on-failure"] and float(service["RestartSec"][0]) > 0
    assert service["RestartPreventExitStatus"] == ["2"]  # a config error is not retried
    assert service["KillSignal"] == ["SIGTERM"] and service["KillMode"] == ["mixed"]
    assert float(service["TimeoutStopSec"][0]) >= 30
    assert "ZEPIX_HOME=/var/lib/zepix" in service["Environment"]
    assert service["EnvironmentFile"] == ["-/etc/zepix/zepix.env"]
    assert service["User"] == ["zepix"] and service["StateDirectory"] == ["zepix"]
    assert not any("TOKEN" in v for vs in service.values() for v in vs)  # secrets stay out
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # scripts/test installs it; the content test above still ran
        assert sys.platform != "linux" or not Path("/usr/bin/apt-get").exists(), (
            "systemd-analyze is missing: run scripts/test, which installs Debian's systemd")
        return
    zepix = Path(sys.executable).parent / "zepix"
    assert zepix.exists()
    path = tmp_path / "zepix.service"
    path.write_text(block("ini").replace(EXEC, str(zepix)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", "--man=no", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    said = [ln for ln in (done.stdout + done.stderr).splitlines() if "zepix" in ln]
    assert done.returncode == 0 and said == [], done.stdout + done.stderr


def test_the_container_recipe_installs_this_repository() -> None:
    lines = [ln.strip() for ln in block("dockerfile").splitlines()]
    assert lines[0].startswith("FROM python:3.11")
    env = next(ln for ln in lines if ln.startswith("ENV "))
    assert "ZEPIX_HOME=/var/lib/zepix" in env
    assert "VOLUME /var/lib/zepix" in lines and "STOPSIGNAL SIGTERM" in lines
    assert "USER zepix" in lines and lines[-1] == 'CMD ["-v", "run"]'
    installed = re.findall(r"/src(/[\w/]+)?(?=\s|$)", block("dockerfile"))
    for sub in installed:  # every package the image installs is in this repository
        assert (ROOT / sub.strip("/") / "pyproject.toml").exists(), sub
