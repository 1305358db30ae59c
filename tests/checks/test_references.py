"""Docstrings and docs name only modules and files that exist.

A comment that points at a module which was moved or deleted sends a reader
to the wrong place; this test keeps the pointers true as the code moves.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.paths import ROOT

PACKAGE = ROOT / "zepix_core"
DOTTED = re.compile(r"\bzepix_core(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
FILE = re.compile(r"(?<![\w./-])((?:[A-Za-z_][\w-]*/)*[A-Za-z_]\w*\.py)\b")
#: Files a text names that are the reader's own, not this repository's.
READERS_FILES = {"plugin.py", "my_strategy/plugin.py", "setup.py", "conftest.py", "bot.py",
                 "strategy.py", "__init__.py", "tests/test_strategy.py",
                 "tests/test_conformance.py", "zepix-hello/tests/test_hello.py",
                 "backtesting.py"}  # the backtesting library's own name


def texts() -> list[Path]:
    sources = sorted(PACKAGE.rglob("*.py"))
    docs = sorted((ROOT / "docs").glob("*.md"))
    return [*sources, *docs, ROOT / "README.md"]


def dotted_exists(name: str) -> bool:
    """``zepix_core.a.b`` names a module, or an attribute of the longest module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if cut == len(parts):
            return True
        mod = importlib.import_module(module)
        target: object = mod
        for attr in parts[cut:]:
            if not hasattr(target, attr):
                return False
            target = getattr(target, attr)
        return True
    return False


def file_exists(name: str, where: Path) -> bool:
    if name in READERS_FILES or name.split("/")[-1] in READERS_FILES:
        return True
    bases = [ROOT, PACKAGE, where.parent, ROOT / "plugins"]
    if any((base / name).exists() for base in bases):
        return True
    # a bare file name: anywhere in the package or the repository's own folders
    if "/" not in name:
        return any(True for _ in PACKAGE.rglob(name)) or any(
            True for d in ("tests", "bench", "examples", "scripts", "plugins")
            for _ in (ROOT / d).rglob(name))
    return False


def prose(path: Path) -> list[tuple[int, str]]:
    """The lines a reader reads as prose: all of a doc; a module's docstrings and
    comments (its code's strings, such as a file it writes, are not pointers)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return list(enumerate(text.splitlines(), 1))
    lines: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                first = body[0].lineno
                lines += [(first + i, line) for i, line in
                          enumerate(body[0].value.value.splitlines())]
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            lines.append((token.start[0], token.string))
    return lines


def broken() -> list[str]:
    found: list[str] = []
    for path in texts():
        for lineno, line in prose(path):
            where = f"{path.relative_to(ROOT)}:{lineno}"
            for name in DOTTED.findall(line):
                if not dotted_exists(name.rstrip(".")):
                    found.append(f"{where}: {name}")
            for name in FILE.findall(line):
                if "://" in line and name in line.split("://", 1)[1]:
                    continue
                if not file_exists(name, path):
                    found.append(f"{where}: {name}")
    return found


def test_every_module_and_file_a_text_names_exists() -> None:
    missing = broken()
    if missing:
        pytest.fail("texts name modules or files that do not exist:\n" + "\n".join(missing))
