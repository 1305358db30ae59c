"""The hook reference, docs/hooks.md, generated from the hook specs' docstrings.

    python -m zepix_core.authoring.hookdoc > docs/hooks.md

Every hook gets a heading, its signature, whether it is required, its
deadline, the conformance checks that exercise it and its docstring. A hook
without a docstring stops the generation: the docstring is the contract.
tests/checks/test_hookdoc.py fails when docs/hooks.md differs from this output.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Sequence

import pluggy

from zepix_core.authoring.conformance import CHECKS
from zepix_core.contract.errors import ZepixError
from zepix_core.contract.hookspecs import (
    DEFAULT_DEADLINES,
    PROJECT,
    REQUIRED_HOOKS,
    HostSpec,
    PluginSpec,
)

COMMAND = "python -m zepix_core.authoring.hookdoc > docs/hooks.md"

#: (heading, spec class, what the section is about)
SECTIONS: Sequence[tuple[str, type, str]] = (
    ("Strategy plugin hooks", PluginSpec,
     ("The host calls these on every plugin. The first four are required: they are the "
      "health surface every plugin offers. The others are optional; a plugin implements "
      "those it needs.")),
    ("Host hooks", HostSpec,
     ("Hooks of the host's own plugin manager. Built-in behaviour (the log and webhook "
      "alert sinks) implements them; strategy plugins do not, and the conformance suite "
      "does not check them.")),
)

INTRO = f"""\
# Hook reference

<!-- Generated from zepix_core/contract/hookspecs.py by `{COMMAND}`; do not edit. -->

A plugin is an object (a module, a class the host instantiates with no
arguments, or an instance) whose methods are marked with `hookimpl`:

```python
from zepix_core import hookimpl


class MyStrategy:
    @hookimpl
    def health_ping(self, now):
        return {{"ok": True, "last_activity": now}}
```

An implementation may accept fewer arguments than the spec names (pluggy
rules), never other ones. Every call has a deadline; a call past it counts as
a miss, and a hook that raises or answers in the wrong shape is recorded as an
error of the plugin; the host goes on. Start with
[plugin-authoring.md](plugin-authoring.md); check a plugin with
`pytest --zepix-plugin ID`.
"""


class HookDocError(ZepixError):
    """A hook cannot be documented (it has no docstring)."""


def hook_names(spec: type) -> list[str]:
    """The hooks ``spec`` declares, in declaration order."""
    return [name for name, fn in vars(spec).items() if inspect.isfunction(fn)]


def all_hooks() -> list[str]:
    return [name for _, spec, _ in SECTIONS for name in hook_names(spec)]


def _markdown(text: str) -> str:
    """reST inline literals (double backquotes) as Markdown code."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _signature(name: str, fn: object) -> str:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = ", ".join(p.name if p.annotation is p.empty else f"{p.name}: {p.annotation}"
                       for p in sig.parameters.values())
    returns = "" if sig.return_annotation is sig.empty else f" -> {sig.return_annotation}"
    return f"@hookimpl\ndef {name}({params}){returns}: ..."


def _facts(name: str, spec: type) -> str:
    opts = pluggy.PluginManager(PROJECT).parse_hookspec_opts(spec, name)
    facts = ["**Required**" if name in REQUIRED_HOOKS else "**Optional**"]
    if name in DEFAULT_DEADLINES:
        facts.append(f"deadline {DEFAULT_DEADLINES[name]:g} s")
    facts.append("the first non-None answer wins" if opts and opts.get("firstresult")
                 else "every implementation is called")
    checks = [f"`{c.name}`" for c in CHECKS if name in c.hooks]
    facts.append(f"conformance checks: {', '.join(checks)}" if checks
                 else "not covered by the conformance suite")
    return " · ".join(facts)


def _hook(name: str, spec: type) -> str:
    fn = vars(spec)[name]
    doc = inspect.getdoc(fn)
    if not doc:
        raise HookDocError(f"hook {name} of {spec.__name__} has no docstring; document its "
                           "arguments, return shape, deadline, when it is called and what "
                           "happens when it raises")
    return (f"### `{name}`\n\n```python\n{_signature(name, fn)}\n```\n\n"
            f"{_facts(name, spec)}\n\n{_markdown(doc)}\n")


def render(sections: Sequence[tuple[str, type, str]] = SECTIONS) -> str:
    """The whole hook reference as Markdown."""
    parts = [INTRO]
    for heading, spec, about in sections:
        parts.append(f"## {heading}\n\n{about}\n")
        parts.extend(_hook(name, spec) for name in hook_names(spec))
    return "\n".join(parts)


def main() -> int:
    try:
        sys.stdout.write(render())
    except HookDocError as exc:
        sys.stderr.write(f"hookdoc: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
