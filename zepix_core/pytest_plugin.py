"""Pytest plugin registered by zepix-core (entry point ``pytest11``)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zepix", "Zepix plugin conformance")
    group.addoption(
        "--zepix-plugin",
        action="append",
        default=[],
        metavar="ID",
        help="run the Zepix conformance suite against the installed plugin ID (repeatable)",
    )
