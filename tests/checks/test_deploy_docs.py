"""docs/deploy.md: the systemd unit and the container recipe it ships are checked here
(deploy/zepix.service, deploy/Dockerfile and .dockerignore, shown verbatim in the doc).

The unit is parsed and its promises asserted (restart policy, a stop that lets the
host shut down cleanly, the environment); ``systemd-analyze verify`` then checks it
as systemd would (``scripts/test`` installs Debian's ``systemd`` package for it when
missing; only its offline ``verify`` is used, no init is needed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT

DEPLOY = ROOT / "docs" / "deploy.md"
UNIT = ROOT / "deploy" / "zepix.service"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
EXEC = "/opt/zepix/.venv/bin/zepix"
#: The highest ``systemd-analyze security`` exposure level the unit may have.
EXPOSURE_LIMIT = 2.5


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
    lines = [ln.strip() for ln in block("dockerfile").splitlines()
             if not ln.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    env = next(ln for ln in lines if ln.startswith("ENV "))
    assert "ZEPIX_HOME=/var/lib/zepix" in env
    assert "VOLUME /var/lib/zepix" in lines and "STOPSIGNAL SIGTERM" in lines
    assert "USER zepix" in lines and lines[-1] == 'CMD ["-v", "run"]'
    installed = re.findall(r"/src(/[\w/]+)?(?=\s|$)", block("dockerfile"))
    for sub in installed:  # every package the image installs is in this repository
        assert (ROOT / sub.strip("/") / "pyproject.toml").exists(), sub


def test_the_docs_show_the_shipped_files_verbatim() -> None:
    assert block("ini") == UNIT.read_text(encoding="utf-8")
    assert block("dockerfile") == DOCKERFILE.read_text(encoding="utf-8")


def test_the_unit_notifies_and_has_a_watchdog() -> None:
    service = unit()["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert float(service["WatchdogSec"][0]) > 3 * 30 + 10  # above /healthz's late limit
    assert service["CapabilityBoundingSet"] == [""]
    assert "@system-service" in service["SystemCallFilter"]


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found is not None, "systemd-analyze is missing: run scripts/test (Debian's systemd)"
    return found


def test_systemd_rates_the_unit_exposure_at_most_2_5(tmp_path: Path) -> None:
    path = tmp_path / "zepix.service"
    path.write_text(UNIT.read_text(encoding="utf-8").replace(
        EXEC, str(Path(sys.executable).parent / "zepix")), encoding="utf-8")
    done = subprocess.run([analyze(), "security", "--offline=true", "--no-pager", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    level = re.search(r"Overall exposure level for zepix\.service: ([0-9.]+)", done.stdout)
    assert level is not None, done.stdout + done.stderr
    assert float(level.group(1)) <= EXPOSURE_LIMIT, done.stdout


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    return [" ".join(ln.split()) for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def test_the_image_runs_unprivileged_with_the_api_open_only_with_a_token() -> None:
    lines = dockerfile()
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users == ["zepix"]
    assert lines.index("USER zepix") < lines.index(next(
        ln for ln in lines if ln.startswith("ENTRYPOINT")))
    env = next(ln for ln in lines if ln.startswith("ENV "))
    assert "ZEPIX_HTTP_LISTEN=0.0.0.0:8787" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert "TOKEN" not in env  # the token comes from --env-file, never the image
    assert "EXPOSE 8787" in lines
    install = next(ln for ln in lines if "pip install" in ln)
    assert '"/src[postgres]"' in install  # the extras are named
    [health] = [ln for ln in lines if ln.startswith("HEALTHCHECK")]
    assert "/healthz" in health and "ZEPIX_API_TOKEN" in health


def test_the_dockerignore_keeps_history_environments_and_secrets_out() -> None:
    ignored = {ln.strip() for ln in (ROOT / ".dockerignore").read_text(
        encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")}
    for pattern in (".git", "**/.venv", "**/__pycache__", "**/*.db", "**/*.env",
                    "**/api-token", "**/zepix.toml"):
        assert pattern in ignored, pattern


def test_the_health_check_command_passes_against_a_host_needing_tokens(
        zepix_home: Path) -> None:
    from tests.livehost import live_host

    [health] = [ln for ln in dockerfile() if ln.startswith("HEALTHCHECK")]
    argv = json.loads(health.partition(" CMD ")[2])
    config = "[host]\nwarmup_bars = 20\nbars_per_round = 2\n[http]\nreads_need_token = true\n"
    with live_host(zepix_home, config=config) as live:
        code = argv[2].replace("127.0.0.1:8787", f"127.0.0.1:{live.server.port}")
        env = {**os.environ, "ZEPIX_API_TOKEN": live.token}
        run = [sys.executable, "-c", code]
        assert subprocess.run(run, env=env, timeout=60, check=False).returncode == 0
        env["ZEPIX_API_TOKEN"] = "wrong"
        assert subprocess.run(run, env=env, capture_output=True, timeout=60,
                              check=False).returncode != 0
