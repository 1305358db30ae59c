"""Every package of zepix_core says what it owns and what of it is public.

A package ``__init__`` carries a docstring and ``__all__``; each name in
``__all__`` is a submodule or an attribute that exists, so the list cannot
promise what is not there.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from tests.paths import ROOT

PACKAGE = ROOT / "zepix_core"
PACKAGES = sorted(p.parent.relative_to(PACKAGE.parent).as_posix().replace("/", ".")
                  for p in PACKAGE.glob("*/__init__.py"))


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_says_what_it_owns_and_what_is_public(name: str) -> None:
    package = importlib.import_module(name)
    assert (package.__doc__ or "").strip(), f"{name}/__init__.py has no docstring"
    public = getattr(package, "__all__", None)
    assert isinstance(public, list) and public, f"{name}/__init__.py has no __all__"
    for entry in public:
        found = hasattr(package, entry) or importlib.util.find_spec(f"{name}.{entry}")
        assert found, f"{name}.__all__ names {entry!r}, which does not exist"
