"""The ``public_api`` check: a plugin imports only what zepix_core makes public.

A private import works today and breaks on any release: the check reads the
source of every module of the plugin's own package (no code is run) and names
each import outside ``zepix_core.contract.public.PUBLIC`` with its file, line
and the public replacement when there is one.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from zepix_core.authoring.conformance.subject import Blocked, Finding, Subject
from zepix_core.contract.public import PUBLIC, replacement

_DOC = "see docs/plugin-authoring.md, 'What is public'"


def _sources(module: str) -> list[Path]:
    """The .py files of ``module``'s top-level package (or the module alone)."""
    top = module.partition(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted(p for d in spec.submodule_search_locations for p in Path(d).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def _imports(tree: ast.AST) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names imported from it) of every zepix_core import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "zepix_core":
                yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "zepix_core":
                    yield node.lineno, alias.name, []


def _finding(where: str, module: str, names: list[str]) -> list[Finding]:
    if module in PUBLIC:
        wrong = [n for n in names if n != "*" and n not in PUBLIC[module]]
        return [Finding("imports", f"only public names of {module}",
                        f"{where} imports {n} from {module}",
                        _fix(n, "it is not public; " + _DOC)) for n in wrong]
    if not names:
        return [Finding("imports", "only zepix_core's public modules",
                        f"{where} imports {module}",
                        f"import from {', '.join(PUBLIC)} instead; {_DOC}")]
    return [Finding("imports", "only zepix_core's public modules",
                    f"{where} imports {n} from the private module {module}",
                    _fix(n, f"it has no public replacement; {_DOC}")) for n in names]


def _fix(name: str, otherwise: str) -> str:
    public = replacement(name)
    return f"write '{public}' instead" if public else otherwise


def check_public_api(subject: Subject) -> list[Finding]:
    record = subject.record()
    if record is None or record.reason is not None:
        raise Blocked("not run: the plugin does not load; see the entry_point check")
    module = record.value.partition(":")[0].strip()
    files = _sources(module)
    if not files:
        raise Blocked(f"not run: no Python source found for {module}")
    findings: list[Finding] = []
    for path in files:
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # the entry_point check reports a module that cannot load
        for line, imported, names in _imports(tree):
            findings.extend(_finding(f"{path}:{line}", imported, names))
    return findings
