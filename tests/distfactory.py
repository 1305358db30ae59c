"""Real ``*.dist-info`` distributions on a temporary path, for discovery tests.

``DistFactory.add`` writes a distribution's METADATA and entry_points.txt plus
its module sources under one directory; discovery then reads them with
``paths=[str(factory.root)]`` and imports them through ``sys.path``.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path


class DistFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def add(self, name: str, version: str, entry_points: Mapping[str, str],
            modules: Mapping[str, str] | None = None, group: str = "zepix.plugins") -> Path:
        """Create distribution ``name`` ``version`` exposing ``entry_points`` (id -> value)."""
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
        lines = [f"[{group}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for module, source in (modules or {}).items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            self.modules.append(module)
        return info

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


GOOD_PLUGIN = '''
from zepix_core import hookimpl

class {class_name}:
    VERSION = "{version}"
    REQUIRES = {requires!r}
    API = "{api}"

    def __init__(self):
        self.bars = 0
        self.active = False

    @hookimpl
    def plugin_version(self):
        return {{"version": self.VERSION, "requires_api": self.API, "requires": self.REQUIRES}}

    @hookimpl
    def health_ping(self, now):
        return {{"ok": True, "last_activity": now}}

    @hookimpl
    def get_metrics(self):
        return {{"signals_processed": self.bars}}

    @hookimpl
    def self_test(self):
        return True

    @hookimpl
    def activate(self, context, config):
        self.active = True

    @hookimpl
    def deactivate(self, reason):
        self.active = False

    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        return None

    @hookimpl
    def on_fill(self, fill):
        self.fills = getattr(self, "fills", 0) + 1

    @hookimpl
    def config_changed(self, changes):
        self.changes = getattr(self, "changes", []) + [dict(changes)]
        return True

    @hookimpl
    def plugin_restarted(self, reason, restarts):
        self.restarted = (reason, restarts)
'''


def plugin_with(*, on_bar: str | None = None, health_ping: str | None = None,
                header: str = "", class_name: str = "Plugin") -> str:
    """``good_plugin`` whose ``activate`` keeps its table as ``self.config`` and
    whose ``on_bar`` (after counting the bar in ``self.bars``) or ``health_ping``
    body is replaced by the given source; ``header``: module lines (imports,
    globals) before the class. For the one hook a test is about."""
    source = good_plugin(class_name=class_name).replace(
        "        self.active = True\n",
        "        self.active = True\n        self.config = dict(config)\n").replace(
        "        self.bars = 0\n", "        self.bars = 0\n        self.config = {}\n")
    if on_bar is not None:
        source = source.replace("        self.bars += 1\n        return None\n",
                                "        self.bars += 1\n"
                                + textwrap.indent(textwrap.dedent(on_bar), " " * 8))
    if health_ping is not None:
        source = source.replace('        return {"ok": True, "last_activity": now}\n',
                                textwrap.indent(textwrap.dedent(health_ping), " " * 8))
    return textwrap.dedent(header) + source


def good_plugin(version: str = "1.0.0", requires: Mapping[str, str] | None = None,
                api: str = ">=1.0,<2", class_name: str = "Plugin") -> str:
    """Source of a module with a conforming plugin class (``Plugin`` unless named):
    every hook answers truthfully, ``on_bar`` counts bars as ``signals_processed``."""
    return GOOD_PLUGIN.format(version=version, requires=dict(requires or {}), api=api,
                              class_name=class_name)
