"""Where the repository is, for tests in any folder under tests/.

Tests live in tests/unit/<package>/, tests/e2e/ and tests/checks/; none of them
counts parent folders to find the repository root.
"""
from __future__ import annotations

from pathlib import Path


def _root() -> Path:
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "zepix_core").is_dir():
            return folder
    raise RuntimeError(f"no repository root above {here}")


ROOT = _root()
"""The repository's root folder (the one holding pyproject.toml)."""
