"""``zepix dev PATH``: the author's inner loop.

The project at PATH is pip-installed in editable mode into a scratch prefix
(never the environment itself), so the host discovers its plugins from there
and runs the working tree as it is. Each cycle runs in a fresh interpreter (a
save re-imports everything): the conformance suite against each plugin, then a
short backtest of them together on the seeded replay (or a source); its
outcome is one small document, and ``changes`` says in a few lines what moved
since the previous cycle.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zepix_core.app.backtest import backtest_source, run_backtest
from zepix_core.authoring.conformance import run_suite
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.config import Config
from zepix_core.loading.discovery import enumerate_plugins
from zepix_core.versions.building import builds_here

#: Replay steps of a cycle's backtest: a day of 1m bars per symbol.
STEPS = 1440


def site_dir(prefix: Path) -> Path:
    """Where pip puts packages under ``--prefix``."""
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix),
                                                    "platbase": str(prefix)}))


def install(project: Path, prefix: Path) -> Path:
    """``pip install --no-deps -e project --prefix prefix``; returns the site directory.
    Offline when this environment has the build requirements."""
    if not (project / "pyproject.toml").is_file() and not (project / "setup.py").is_file():
        raise ZepixError(f"dev: {project} is no Python project (no pyproject.toml); give "
                         "the directory 'zepix new-plugin' made")
    args = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
            "--disable-pip-version-check", "--no-warn-script-location",
            "--prefix", str(prefix), "-e", str(project)]
    if builds_here(project, sys.executable):
        args[4:4] = ["--no-build-isolation", "--no-index"]
    # S603: argv list without a shell: pip installs the project the author named
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise ZepixError(f"dev: pip install -e {project} failed: "
                         f"{lines[-1].strip() if lines else done.returncode}")
    return site_dir(prefix)


def project_plugins(site_path: Path) -> list[str]:
    """The plugin ids the scratch prefix provides (the project's entry points)."""
    return sorted({r.plugin_id for r in enumerate_plugins([str(site_path)])})


def cycle(site_path: Path, *, source: str | None = None,
          options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One cycle in this interpreter: conformance and a short backtest."""
    site.addsitedir(str(site_path))  # runs the editable install's .pth: the working tree
    ids = project_plugins(site_path)
    if not ids:
        raise ZepixError(f"dev: the project declares no plugin (no entry point in group "
                         f"zepix.plugins under {site_path})")
    checks: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="zepix-dev-") as work:
        for pid in ids:
            for check in run_suite(pid, Path(work) / pid):
                checks[f"{pid}:{check.check}"] = (
                    check.outcome if not check.findings else
                    f"failed: {str(check.findings[0])[:200]}")
    document: dict[str, object] = {"plugins": ids, "checks": checks, "backtest": None}
    runnable = [p for p in ids if not any(v.startswith("failed") for k, v in checks.items()
                                          if k.startswith(p + ":") and "lifecycle" in k)]
    if runnable:
        opts = dict(options or {})
        if source in (None, "replay"):
            opts.setdefault("steps", STEPS)
        try:
            result = run_backtest(runnable, backtest_source(Config(), source, opts),
                                  config=Config(), allow_errors=True)
            document["backtest"] = {p: {k: result.figures[p][k] for k in
                                        ("trades", "total_return_pct", "errors", "ruined",
                                         "first_error")} for p in runnable}
        except ZepixError as exc:
            document["backtest_error"] = str(exc)
    return document


def changes(before: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
    """What moved between two cycles, a line each (everything, the first time)."""
    lines = []
    old_checks = (before or {}).get("checks", {})
    checks = now.get("checks", {})
    passed = sum(1 for v in checks.values() if v in ("passed", "skipped"))
    failed = {k: v for k, v in checks.items() if v.startswith("failed")}
    if before is None or old_checks != checks:
        lines.append(f"conformance: {passed}/{len(checks)} checks pass")
        for key, value in failed.items():
            if old_checks.get(key) != value:
                lines.append(f"  {key}: {value}")
        for key in sorted(k for k, v in old_checks.items()
                          if v.startswith("failed") and k not in failed):
            lines.append(f"  {key}: fixed")
    old_bt, bt = (before or {}).get("backtest") or {}, now.get("backtest") or {}
    for pid, figures in bt.items():
        old = old_bt.get(pid)
        if old == figures:
            continue
        text = (f"backtest {pid}: {figures['trades']} trades, return "
                f"{_pct(figures['total_return_pct'])}, {figures['errors']} errors"
                + (", RUINED" if figures["ruined"] else ""))
        if old is not None:
            text += (f" (was {old['trades']} trades, {_pct(old['total_return_pct'])}, "
                     f"{old['errors']} errors)")
        lines.append(text)
        if figures["first_error"] and figures["first_error"] != (old or {}).get("first_error"):
            lines.append(f"  first error: {figures['first_error']}")
    if now.get("backtest_error") and now.get("backtest_error") != (before or {}).get(
            "backtest_error"):
        lines.append(f"backtest: {now['backtest_error']}")
    return lines or ["no change"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def cycle_in_child(project: Path, prefix: Path, extra: Sequence[str]) -> dict[str, object] | str:
    """A cycle in a fresh interpreter (everything re-imported); its document, or the
    one-line error it ended with."""
    import json

    # S603: argv list without a shell: this very command, one cycle
    done = subprocess.run([sys.executable, "-m", "zepix_core.cli.main", "dev", str(project),  # noqa: S603
                           "--once", "--json", "--prefix", str(prefix), *extra],
                          capture_output=True, text=True, check=False, timeout=1800)
    try:
        document = json.loads(done.stdout)
    except ValueError:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else f"the cycle exited with {done.returncode}"
    return document if isinstance(document, dict) else "the cycle gave no document"
