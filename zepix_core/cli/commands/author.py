"""``zepix new-plugin``: a new strategy package from the template shipped with zepix-core.

The template lives in ``zepix_core/template/``: every ``*.tmpl`` file is
copied with ``{{placeholders}}`` filled in, and the ``package`` directory
takes the package's name.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from packaging.version import Version

from zepix_core.cli.commands.base import Command
from zepix_core.contract.errors import ZepixError
from zepix_core.loading.discovery import PLUGIN_ID

_DIST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class Names:
    """What one new plugin package is called, everywhere."""

    dist: str
    package: str
    plugin_id: str
    class_name: str

    @classmethod
    def derive(cls, name: str, plugin_id: str | None = None) -> Names:
        """Names from the distribution ``name``; raises ``ZepixError`` saying what to change."""
        if not _DIST.match(name):
            raise ZepixError(f"'{name}' is not a valid distribution name; use letters, digits, "
                             "'-', '_' and '.', starting and ending with a letter or digit")
        package = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        if not package.isidentifier():
            raise ZepixError(f"'{name}' gives the package name '{package}', which Python "
                             "cannot import; start the name with a letter")
        plugin_id = plugin_id or package
        if not PLUGIN_ID.match(plugin_id):
            raise ZepixError(f"plugin id '{plugin_id}' is invalid; use lowercase letters, "
                             "digits and '_', starting with a letter (set it with --id)")
        class_name = "".join(part.capitalize() for part in plugin_id.split("_"))
        return cls(name, package, plugin_id, class_name)


def placeholders(names: Names) -> dict[str, str]:
    from zepix_core.contract.api import API_VERSION

    api, core = Version(API_VERSION), Version(metadata.version("zepix-core"))
    return {
        "dist": names.dist, "package": names.package, "plugin_id": names.plugin_id,
        "class_name": names.class_name,
        "requires_api": f">={api.major}.{api.minor},<{api.major + 1}",
        "core_requirement": f"zepix-core>={core.major}.{core.minor},<{core.major + 1}",
    }


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _files(folder: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                                            Traversable]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found.extend(_files(entry, (*prefix, entry.name)))
        elif entry.name.endswith(".tmpl"):
            found.append(((*prefix, entry.name.removesuffix(".tmpl")), entry))
    return found


def scaffold(names: Names, target: Path) -> list[Path]:
    """Write the template for ``names`` into ``target`` (absent or empty); the files written."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ZepixError(f"{target} already exists and is not empty; choose another NAME "
                         "or --dir")
    values = placeholders(names)
    written = []
    for parts, source in _files(resources.files("zepix_core.authoring") / "template"):
        # gitignore.tmpl: a dot file would be left out of the wheel's package data
        relative = [names.package if p == "package" else "." + p if p == "gitignore" else p
                    for p in parts]
        path = target.joinpath(*relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(source.read_text(encoding="utf-8"), values), encoding="utf-8")
        written.append(path)
    return written


def _new_plugin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME",
                   help="distribution name of the package, such as zepix-my-strategy")
    p.add_argument("--dir", default=".", metavar="DIR",
                   help="create NAME/ inside DIR (default: the current directory)")
    p.add_argument("--id", dest="plugin_id", metavar="ID",
                   help="plugin id (default: NAME in lowercase, '-' and '.' as '_')")


def _new_plugin(args: argparse.Namespace) -> int:
    names = Names.derive(args.name, args.plugin_id)
    target = Path(args.dir) / names.dist
    written = scaffold(names, target)
    out = sys.stdout
    out.write(f"created {target}/ with plugin id {names.plugin_id} "
              f"(package {names.package}, class {names.class_name}):\n")
    out.writelines(f"  {path}\n" for path in written)
    out.write(f"\nnext:\n  cd {target}\n  pip install -e .\n"
              f"  python -m pytest --zepix-plugin {names.plugin_id}\n  zepix plugins\n")
    return 0


COMMANDS = [
    Command("new-plugin", "create a strategy plugin package from the template",
            "Create NAME/ with a pyproject.toml declaring the plugin's entry point, a\n"
            "package whose plugin class implements the required hooks and on_bar (a\n"
            "moving-average crossover to replace with your strategy), a README, and\n"
            "tests that include the conformance suite.\n\n"
            "  zepix new-plugin zepix-my-strategy\n"
            "  zepix new-plugin my-strategy --dir ~/src --id my_strategy_v1",
            _new_plugin, _new_plugin_args),
]
