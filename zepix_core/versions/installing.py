"""Installing into the store: the pip run and the checks of what pip installed.

``run_pip`` runs ``pip install --no-deps --target`` and turns its failure into one
line (pip's own errors, never only "See above for details"), telling an index
that could not be reached (retried) from a failure for good. The checks refuse a
staging directory that is not one plugin distribution, one that would take over
another distribution's plugin id, and one whose requirements the host
environment does not meet.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import importlib_metadata as md
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from zepix_core.contract.errors import ZepixError
from zepix_core.contract.redact import redact_source, redact_text
from zepix_core.loading.discovery import GROUP, enumerate_plugins
from zepix_core.retry import Category, OutboundError

#: pip output that says an index or download could not be reached (verbose output).
_UNREACHABLE = re.compile(
    r"Could not fetch URL|Max retries exceeded|NewConnectionError|ReadTimeoutError|"
    r"Connection (?:refused|reset|aborted)|timed out|Temporary failure in name resolution|"
    r"Name or service not known|Server Error|IncompleteRead|HTTP/1\.[01]\" 50[0-4] |"
    r"too many 50[0-4] error responses")
_RATE_LIMITED = re.compile(r"HTTP/1\.[01]\" 429 |too many 429 error|429 Client Error|"
                           r"Too Many Requests")


def run_pip(python: str, source: str, target: Path, build_isolation: bool, index: bool,
            timeout: float) -> None:
    """``pip install --no-deps --target target source``; raises ``ZepixError`` (offline)
    or ``OutboundError`` (an index was reached: its category says whether to retry)."""
    args = [python, "-m", "pip", "install", "--no-deps", "--target", str(target),
            "--disable-pip-version-check", "--no-warn-script-location"]
    # Reaching an index, pip's own retries are off (the store.install policy retries)
    # and its output is verbose enough to tell an unreachable index from a missing
    # package; a local file needs no index: offline and faster.
    args += ["--retries", "0", "-vv"] if index else ["--no-index", "--quiet"]
    if not build_isolation:
        args.append("--no-build-isolation")
    shown = redact_source(source)
    try:
        # S603: argv list without a shell: pip's own CLI installs the source the operator named
        done = subprocess.run([*args, source], capture_output=True, text=True, check=False,  # noqa: S603
                              stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ZepixError(f"install {shown}: pip did not finish within "
                         f"{timeout:g}s; check the network or the index, "
                         "then try again") from None
    if done.returncode == 0:
        return
    why = pip_error(done.stderr) or f"pip exited with {done.returncode}"
    if "No module named pip" in done.stderr:
        why = f"pip is not installed for {python}; install it there"
    message = f"install {shown}: pip failed: {redact_text(why)}"
    if not index:
        raise ZepixError(message)
    category, seen = _pip_category(done.stdout + done.stderr)
    raise OutboundError(message + (f" ({redact_text(seen)})" if seen else ""), category)


_RAISED = re.compile(r"^\s*(?:\w+\.)*\w*(?:Error|Exception|Unavailable)\b.*:")


def pip_error(stderr: str) -> str:
    """What went wrong, from pip's stderr: its ``ERROR:`` lines and, for a build that
    failed, the exception the build raised and pip's ``error:`` lines; never only the
    closing "See above for details" (above is not shown)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    wanted = [ln for ln in lines if ln.startswith("ERROR:")]
    wanted += [ln for ln in stderr.splitlines() if _RAISED.match(ln)]
    wanted += [ln for ln in lines if ln.startswith("error:")]
    found = list(dict.fromkeys(ln.strip() for ln in wanted))
    if not found:
        return lines[-1] if lines else ""
    return " | ".join(found)[:1000]


def _pip_category(output: str) -> tuple[Category, str]:
    """Whether pip failed to reach its index (and the line that says so) or failed
    for good (a missing version, a bad requirement)."""
    for line in output.splitlines():
        if _RATE_LIMITED.search(line):
            return Category.RATE_LIMIT, line.strip()[:200]
    for line in output.splitlines():
        if _UNREACHABLE.search(line) and "Location" not in line:
            return Category.TRANSIENT, line.strip()[:200]
    return Category.PERMANENT, ""


def only_distribution(staging: Path, source: str) -> md.Distribution:
    dists: list[md.Distribution] = list(md.Distribution.discover(path=[str(staging)]))
    if len(dists) != 1:
        names = ", ".join(d.metadata["Name"] for d in dists) or "none"
        raise ZepixError(f"install {source}: expected one distribution, pip installed {names}")
    dist = dists[0]
    if not dist.entry_points.select(group=GROUP):
        raise ZepixError(f"install {source}: {dist.metadata['Name']} {dist.version} declares no "
                         f"'{GROUP}' entry points, so it is not a zepix plugin distribution")
    return dist


def check_provider(dist: md.Distribution, staging: Path, providers: Mapping[str, str]) -> None:
    """Refuse a distribution presenting itself as a new version of another's plugin."""
    name = canonicalize_name(dist.metadata["Name"] or "")
    for record in enumerate_plugins([str(staging)]):
        owner = providers.get(record.plugin_id)
        if owner is not None and canonicalize_name(owner) != name:
            raise ZepixError(
                f"install: {dist.metadata['Name']} {dist.version} offers plugin "
                f"'{record.plugin_id}', which {owner} provides now; a different distribution "
                "may be another author's code under the same id. Give "
                "--allow-other-distribution if you mean to switch to it")


def unmet_requirements(dist: md.Distribution) -> list[str]:
    """Requirements of ``dist`` the host environment does not meet, each with why."""
    missing = []
    for text in dist.requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            missing.append(f"{text} (not a valid requirement)")
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            missing.append(f"{req} (not installed)")
            continue
        if not req.specifier.contains(have, prereleases=True):
            missing.append(f"{req} (found {have})")
    return missing


def check_requirements(dist: md.Distribution) -> None:
    missing = unmet_requirements(dist)
    if missing:
        raise ZepixError(
            f"{dist.metadata['Name']} {dist.version} needs {', '.join(missing)} in the host "
            f"environment ({sys.prefix}); the store installs the plugin alone (--no-deps): "
            "pip install its requirements into the host environment, then install again")
