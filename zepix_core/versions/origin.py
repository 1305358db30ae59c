"""Where a copy of a plugin version comes from, and which copy of a version loads.

A version can have two copies: the environment's (what pip installed into the
host's environment) and the store's. An environment copy installed in editable
mode (``pip install -e``) is no fixed version: its metadata says what the
project declared when it was installed, its code is the working tree as it is
now, edits included. So it never stands in for a store copy of the version it
claims: ``copies`` keeps the store's, and a move to a version whose only copy
is editable is refused (``EDITABLE_ONLY``) unless the working tree still
declares that version (``tree_version``: a static ``[project] version``, or
setuptools' ``version = {attr = ...}`` read without importing), since what it
would load is whatever the working tree holds, perhaps another version's code.
"""

from __future__ import annotations

import ast
import json
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from zepix_core.loading.discovery import EntryRecord

#: Why an editable-only version is no target of an upgrade, rollback or canary.
EDITABLE_ONLY = ("is installed only in editable mode (pip install -e): its code is the "
                 "working tree{where}, whatever version that holds now")


def is_editable(record: EntryRecord | None) -> bool:
    """Whether ``record`` is an environment copy pip installed in editable mode
    (its ``direct_url.json`` says ``dir_info.editable``, PEP 610)."""
    if record is None or not record.location:
        return False
    try:
        direct = json.loads((Path(record.location) / "direct_url.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    info = direct.get("dir_info") if isinstance(direct, dict) else None
    return isinstance(info, dict) and info.get("editable") is True


def working_tree(record: EntryRecord) -> str | None:
    """The project directory an editable copy runs from, when its metadata says."""
    try:
        direct = json.loads((Path(record.location) / "direct_url.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    url = direct.get("url") if isinstance(direct, dict) else None
    if not isinstance(url, str) or urlparse(url).scheme != "file":
        return None
    return url2pathname(urlparse(url).path)


def tree_version(record: EntryRecord) -> str | None:
    """The version an editable copy's working tree declares now: ``[project] version``,
    or the string a setuptools ``version = {attr = "pkg.mod.__version__"}`` names, read
    from the source without importing it. None when it cannot be known."""
    tree = working_tree(record)
    if tree is None:
        return None
    root = Path(tree)
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    if isinstance(project.get("version"), str):
        return str(project["version"])
    setuptools = data.get("tool", {}).get("setuptools", {})
    dynamic = setuptools.get("dynamic", {}) if isinstance(setuptools, dict) else {}
    spec = dynamic.get("version") if isinstance(dynamic, dict) else None
    attr = spec.get("attr") if isinstance(spec, dict) else None
    if not isinstance(attr, str) or "." not in attr:
        return None
    module, _, name = attr.rpartition(".")
    return _literal(root, module, name)


def _literal(root: Path, module: str, name: str) -> str | None:
    """``name = "..."`` at the top of ``module`` under ``root`` (or ``root/src``)."""
    rel = Path(*module.split("."))
    for base in (root, root / "src"):
        for path in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
            try:
                tree = ast.parse(path.read_text("utf-8"))
            except (OSError, SyntaxError, ValueError):
                continue
            for node in tree.body:
                if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                        and isinstance(node.value.value, str)
                        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)):
                    return node.value.value
    return None


def drifted(record: EntryRecord | None) -> bool:
    """Whether ``record`` is an editable copy whose working tree may no longer be its
    version: editable, and the tree's declared version differs or cannot be known."""
    if not is_editable(record):
        return False
    assert record is not None
    declared = tree_version(record)
    return declared is None or declared != record.dist_version


def editable_only(record: EntryRecord) -> str:
    """``EDITABLE_ONLY`` for ``record``, naming its working tree and the fix."""
    tree = working_tree(record)
    declared = tree_version(record)
    where = f" {tree}" if tree else ""
    if declared is not None:
        where += f" (which now declares {declared})"
    fix = shlex.quote(tree) if tree else "<wheel or project>"
    return (EDITABLE_ONLY.format(where=where) + f"; put {record.dist_version} into the store "
            f"first: zepix install {fix}")


def copies(stored: Mapping[str, EntryRecord], env: EntryRecord | None) -> dict[str, EntryRecord]:
    """version -> the copy that loads: the environment's copy of a version comes first,
    unless it is editable and the store holds that version (see the module docstring)."""
    out = dict(stored)
    if env is not None and not (is_editable(env) and env.dist_version in stored):
        out[env.dist_version] = env
    return out


def origin(in_store: bool, record: EntryRecord) -> str:
    """``store``, ``editable`` (pip install -e: the code is the working tree, edits
    included) or ``environment``."""
    if in_store:
        return "store"
    return "editable" if is_editable(record) else "environment"
