"""Specs, docs and the conformance suite stay in step: every hook documented, every hook tested."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

from tests.paths import ROOT
from zepix_core.authoring.conformance import exercised_hooks
from zepix_core.authoring.hookdoc import (
    COMMAND,
    SECTIONS,
    HookDocError,
    all_hooks,
    hook_names,
    render,
)
from zepix_core.contract.hookspecs import REQUIRED_HOOKS, HostSpec, hookspec

HOOKS_MD = ROOT / "docs" / "hooks.md"


def section(hook: str) -> str:
    """The part of docs/hooks.md under the heading of ``hook``."""
    text = HOOKS_MD.read_text(encoding="utf-8")
    match = re.search(rf"^### `{hook}`\n(.*?)(?=^##)|^### `{hook}`\n(.*)\Z", text,
                      re.MULTILINE | re.DOTALL)
    assert match, f"docs/hooks.md has no heading for hook {hook}; run {COMMAND}"
    return match.group(1) or match.group(2)


def test_hooks_md_is_generated_from_the_current_specs() -> None:
    assert HOOKS_MD.read_text(encoding="utf-8") == render(), (
        f"docs/hooks.md is stale; regenerate it: {COMMAND}")


@pytest.mark.parametrize("hook", all_hooks())
def test_hook_documented(hook: str) -> None:
    spec = next(spec for _, spec, _ in SECTIONS if hook in vars(spec))
    doc = inspect.getdoc(vars(spec)[hook])
    assert doc, f"hook {hook} has no docstring in zepix_core/contract/hookspecs.py"
    text = section(hook)
    assert doc.splitlines()[0].replace("``", "`") in text
    assert f"def {hook}(" in text


@pytest.mark.parametrize("hook", all_hooks())
def test_hook_exercised_by_the_suite_or_documented_optional(hook: str) -> None:
    if hook in REQUIRED_HOOKS:
        assert hook in exercised_hooks(), f"required hook {hook} has no conformance check"
    else:
        assert hook in exercised_hooks() or "**Optional**" in section(hook), (
            f"hook {hook} is neither exercised by a conformance check nor documented optional")


def test_every_plugin_hook_is_exercised_by_some_check() -> None:
    host_hooks = set(hook_names(HostSpec))  # the host's own, not a strategy plugin's
    plugin_hooks = [h for h in all_hooks() if h not in host_hooks]
    assert set(plugin_hooks) <= exercised_hooks()


def test_a_hook_without_docstring_stops_the_generation() -> None:
    class Spec:
        @hookspec
        def documented(self) -> None:
            """Has words."""

        @hookspec
        def on_tick(self, tick: float) -> None:
            pass

    with pytest.raises(HookDocError, match="hook on_tick of Spec has no docstring"):
        render([("Extra", Spec, "Hooks for a test.")])


def facts(hook: str) -> str:
    return next(line for line in section(hook).splitlines() if line.startswith("**"))


def test_generated_page_names_required_and_optional_hooks() -> None:
    for hook in REQUIRED_HOOKS:
        assert facts(hook).startswith("**Required** · deadline ")
    assert facts("on_bar").startswith("**Optional** · deadline 1 s")
    assert facts("alert_sink").endswith("not covered by the conformance suite")


def test_command_prints_the_page() -> None:
    done = subprocess.run([sys.executable, "-m", "zepix_core.authoring.hookdoc"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout == render()
    assert done.stderr == ""
