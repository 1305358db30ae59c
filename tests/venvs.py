"""Helpers for end-to-end tests: wheels of real packages, fresh virtual environments, the CLI.

``build_wheels`` builds wheels from source trees through their PEP 517 build
backend, as pip does. ``make_venv`` creates a fresh virtual environment and
pip-installs wheels into it without an index; the runtime dependencies of
``zepix-core`` (pluggy, packaging, psutil, ...) are made visible from the
running interpreter's environment, while the outer environment's own
(editable) zepix distributions stay invisible inside. ``--system-site-packages``
would not do: it exposes the base interpreter's site-packages, not the outer
virtual environment's.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import ROOT

REPO = ROOT
BUNDLED_SOURCES = (REPO, REPO / "plugins" / "combined_v3", REPO / "plugins" / "price_action")
BUNDLED = ("zepix-core", "zepix-combined-v3", "zepix-price-action")
FIXTURE_PACKAGES = Path(__file__).resolve().parent / "fixtures_pkgs"

# Source-tree clutter that must not leak into a build (and build/ must not leak back).
_IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                 ".*_cache", "plugins", "tests", "docs", "bench", ".ci", "*.db*")


def _pip(*args: str, python: Path | None = None, timeout: float = 180
         ) -> subprocess.CompletedProcess[str]:
    target = ("--python", str(python)) if python else ()
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *target,
                           *args], check=False, capture_output=True, text=True, timeout=timeout)


def _build_one(python: Path, source: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    """Call the tree's PEP 517 ``build_wheel`` hook, as pip does, without isolation."""
    meta = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    backend = meta["build-system"]["build-backend"]
    code = f"import importlib, sys; importlib.import_module({backend!r}).build_wheel(sys.argv[1])"
    return subprocess.run([str(python), "-c", code, str(dest)], cwd=source, check=False,
                          capture_output=True, text=True, timeout=180)


def _build_all(python: Path, sources: Sequence[Path], dest: Path) -> str | None:
    """Build every tree with ``python``; returns the first failure's output, if any."""
    for source in sources:
        done = _build_one(python, source, dest)
        if done.returncode != 0:
            return f"{source}:\n{done.stdout}\n{done.stderr}"
    return None


def build_wheels(sources: Iterable[Path], dest: Path) -> list[Path]:
    """Build one wheel per source tree into ``dest``; returns the wheel files.

    Each tree is copied first so the build writes nothing into the repository.
    The build backend runs in the current environment when it can (fast,
    offline). When it cannot (a setuptools without ``bdist_wheel``), one build
    environment gets the build requirements from the configured index, which
    is what pip's build isolation does, but once instead of per package.
    Calling the PEP 517 hook directly rather than ``pip wheel`` saves pip's
    start-up and metadata round trips: seconds per package.
    """
    dest.mkdir(parents=True, exist_ok=True)
    copies = []
    for src in sources:
        copy = dest.parent / "src" / src.name
        shutil.copytree(src, copy, ignore=_IGNORE, dirs_exist_ok=True)
        copies.append(copy)
    failure = _build_all(Path(sys.executable), copies, dest)
    if failure is not None:
        builder = dest.parent / "build-env"
        venv.EnvBuilder(with_pip=False, symlinks=True).create(builder)
        python = builder / "bin" / "python"
        done = _pip("install", "setuptools>=64", "wheel", python=python)
        if done.returncode != 0:
            raise RuntimeError(f"cannot set up a build environment:\n{done.stderr}")
        failure = _build_all(python, copies, dest)
    if failure is not None:
        raise RuntimeError(f"building a wheel failed: {failure}")
    return sorted(dest.glob("*.whl"))


def wheel_versions(wheels: Iterable[Path]) -> dict[str, str]:
    """Distribution name (canonical) -> version, read from wheel file names."""
    out: dict[str, str] = {}
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        out[canonicalize_name(name)] = version
    return out


def _closure(names: Iterable[str]) -> list[md.Distribution]:
    """The installed distributions ``names`` need at run time, transitively."""
    todo, seen, found = list(names), set[str](), list[md.Distribution]()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        dist = md.distribution(name)
        found.append(dist)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def _link_dependencies(target: Path, dists: Sequence[md.Distribution]) -> None:
    """Symlink each distribution's top-level files (package, dist-info) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            link = target / top
            if (base / top).exists() and not link.exists():
                link.symlink_to(base / top)


@dataclass(frozen=True)
class Venv:
    """A virtual environment with zepix installed into it."""

    root: Path
    wheelhouse: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def zepix(self) -> Path:
        return self.root / "bin" / "zepix"

    def pip_install(self, *names: str) -> None:
        """Install distributions by name from the wheelhouse, without an index."""
        done = _pip("install", "--no-deps", "--no-compile", "--no-index",
                    "--find-links", str(self.wheelhouse), *names, python=self.python)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(names)} failed:\n{done.stderr}")

    def run(self, *args: str, env: Mapping[str, str], timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.zepix), *args], check=False, capture_output=True, text=True,
                              env=dict(env), cwd=self.root, timeout=timeout)


def make_venv(root: Path, wheelhouse: Path, names: Sequence[str]) -> Venv:
    """A fresh venv at ``root`` with ``names`` pip-installed from ``wheelhouse``.

    pip comes from the running interpreter (``pip --python``), which saves
    bootstrapping a copy into every venv. The dependency link directory is
    added to ``sys.path`` after the install, so pip does not mistake the outer
    environment's distributions for installed ones.
    """
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    env = Venv(root, wheelhouse)
    env.pip_install(*names)
    deps = root / "outer-deps"
    _link_dependencies(deps, _closure(["zepix-core"])[1:])
    site = next((root / "lib").glob("python3.*/site-packages"))
    (site / "zz_outer_deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    return env


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: data in ``home``, nothing inherited that matters."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "ZEPIX_DB"}}
    env.update(ZEPIX_HOME=str(home), ZEPIX_DB=str(home / "zepix.db"), **extra)
    return env


def one_json(stdout: str) -> Any:
    """Parse stdout that must hold exactly one JSON document and nothing else."""
    decoder = json.JSONDecoder()
    text = stdout.strip()
    document, end = decoder.raw_decode(text)
    assert text[end:].strip() == "", f"more than one JSON document on stdout: {text[end:]!r}"
    return document
