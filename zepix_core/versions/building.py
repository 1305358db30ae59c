"""How ``zepix install`` builds a project directory: offline when it can.

pip builds a project in an isolated environment holding the project's
``[build-system] requires``, fetched from an index. Offline (``--no-index``)
that fails on a stock machine: nothing can be fetched. When the host's own
environment already satisfies the build requirements (and, for setuptools
before 70.1, has ``wheel``, which those versions need to build a wheel), the
build runs in it (``--no-build-isolation``), offline; otherwise pip may reach
the index for them.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import importlib_metadata as md
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

#: What pip assumes of a project without ``[build-system]`` (PEP 518).
LEGACY = ["setuptools>=40.8.0"]


def build_requires(project: Path) -> list[str]:
    """The project's ``[build-system] requires`` (pip's default without one)."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return list(LEGACY)
    requires = data.get("build-system", {}).get("requires")
    return [str(r) for r in requires] if isinstance(requires, list) else list(LEGACY)


def unmet(requirements: list[str]) -> list[str]:
    """The requirements this environment does not satisfy (setuptools before 70.1
    counts as unmet without ``wheel``)."""
    missing = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            missing.append(text)
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = Version(md.version(req.name))
        except (md.PackageNotFoundError, ValueError):
            missing.append(text)
            continue
        if not req.specifier.contains(have, prereleases=True):
            missing.append(f"{text} (this environment has {have})")
        elif req.name.lower() == "setuptools" and have < Version("70.1") and not _has("wheel"):
            missing.append(f"wheel (setuptools {have} builds wheels only with it)")
    return missing


def _has(name: str) -> bool:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        return False
    return True


def builds_here(project: Path, python: str) -> bool:
    """Whether ``python`` (this interpreter only: another's packages are not known
    here) can build the project directory without fetching anything."""
    return (python == sys.executable and project.is_dir()
            and not unmet(build_requires(project)))
