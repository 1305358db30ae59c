"""Checks of what the host does before activation: load, validate hooks, read the version."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from zepix_core.authoring.conformance.subject import (
    Blocked,
    Finding,
    Subject,
    call_problem,
    definition,
    show,
    spec_args,
)
from zepix_core.authoring.harness import PluginHandle
from zepix_core.contract.errors import PluginError, describe
from zepix_core.contract.hookspecs import PROJECT, REQUIRED_HOOKS, PluginSpec
from zepix_core.execution.runner import CallResult
from zepix_core.loading.config import PLUGIN_DEFAULTS
from zepix_core.loading.discovery import (
    GROUP,
    LoadFailure,
    build_manager,
    misspelt_hook_fix,
    unmarked_hooks,
)
from zepix_core.loading.resolution import parse_meta
from zepix_core.loading.settings import parse_settings


def check_entry_point(subject: Subject) -> list[Finding]:
    record = subject.record()
    if record is None:
        installed = sorted({r.plugin_id for r in subject.records()})
        return [Finding("entry point", f"an entry point named '{subject.plugin_id}' in group "
                        f"'{GROUP}'", f"none (installed: {', '.join(installed) or 'none'})",
                        f'declare it under [project.entry-points."{GROUP}"] in pyproject.toml '
                        f'({subject.plugin_id} = "package:PluginClass") and pip install the '
                        "package")]
    if record.reason is not None:
        return [Finding("entry point", "a valid plugin id that one distribution offers",
                        f"'{record.plugin_id}' rejected: {record.reason}",
                        "use lowercase letters, digits and '_' starting with a letter, "
                        "and let one installed distribution offer the id")]
    try:
        obj = record.entry_point().load()
    except Exception as exc:  # noqa: BLE001 - whatever the plugin's import raises is the finding
        module = record.value.split(":")[0]
        return [Finding("entry point", f"'{record.value}' to import", describe(exc),
                        "check the module and attribute names in the entry point and make "
                        f"'import {module}' work (install what it imports)")]
    if isinstance(obj, type):
        try:
            obj()
        except Exception as exc:  # noqa: BLE001 - whatever the constructor raises is the finding
            return [Finding("entry point", f"{obj.__name__}() to build the plugin with no "
                            "arguments", describe(exc), "give the constructor no required "
                            "arguments and move work that can fail (files, network, config) "
                            "into the activate hook")]
    return []


def _checking_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(PluginSpec)
    return pm


def _impl(pm: pluggy.PluginManager, obj: object, name: str) -> Mapping[str, object] | None:
    try:
        return pm.parse_hookimpl_opts(obj, name)
    except Exception:  # noqa: BLE001 - an attribute that raises on access is no hook
        return None


def check_required_hooks(subject: Subject) -> list[Finding]:
    _, obj = subject.object()
    pm = _checking_manager()
    found = []
    for hook in REQUIRED_HOOKS:
        if _impl(pm, obj, hook) is not None:
            continue
        got = ("a method without @hookimpl" if callable(getattr(obj, hook, None))
               else "no implementation")
        found.append(Finding(hook, "an implementation marked @hookimpl (a required hook)", got,
                             f"add '@hookimpl {definition(hook)}' to the plugin, with "
                             "'from zepix_core import hookimpl'"))
    return found


def _argnames(func: Callable[..., object]) -> tuple[str, ...]:
    """The arguments pluggy passes to an implementation: positional ones without a default."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return ()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in params if p.kind in kinds and p.default is p.empty)


def _signature_problem(name: str, opts: Mapping[str, object], obj: object) -> Finding | None:
    specs = spec_args()
    if name not in specs:
        if opts.get("optionalhook"):
            return None
        return Finding(name, f"a hook of the spec ({', '.join(specs)})",
                       f"unknown hook '{name}'", misspelt_hook_fix([name]))
    extra = [a for a in _argnames(getattr(obj, name)) if a not in specs[name]]
    if not extra:
        return None
    return Finding(name, f"only arguments the spec names ({', '.join(specs[name]) or 'none'})",
                   f"extra argument(s) {', '.join(extra)}",
                   f"accept what the spec passes, or fewer: {definition(name)}")


def check_hook_signatures(subject: Subject) -> list[Finding]:
    record, obj = subject.object()
    pm = _checking_manager()
    found = []
    for name in dir(obj):
        opts = _impl(pm, obj, name)
        problem = None if opts is None else _signature_problem(name, opts, obj)
        if problem is not None:
            found.append(problem)
    for method, hook in unmarked_hooks(obj):
        if method in REQUIRED_HOOKS:
            continue  # the required_hooks check says so already
        like = "" if method == hook else f", one or two edits from the hook '{hook}'"
        found.append(Finding(method, "every hook implementation marked @hookimpl",
                             f"method '{method}' without @hookimpl{like}: the host never "
                             "calls it",
                             f"add '@hookimpl' above 'def {method}' (from zepix_core import "
                             "hookimpl)" + ("" if method == hook else
                                            f", and name it '{hook}' if it is that hook")))
    if not found and all(_impl(pm, obj, h) is not None for h in REQUIRED_HOOKS):
        try:
            build_manager(record, obj)
        except LoadFailure as exc:
            found.append(Finding("hooks", "the host to register the plugin", str(exc),
                                 "match every hook implementation to docs/hooks.md"))
    return found


def _version_answer(subject: Subject) -> tuple[PluginHandle, CallResult]:
    handle = subject.load()
    return handle, handle.call("plugin_version")


def check_plugin_version(subject: Subject) -> list[Finding]:
    handle, result = _version_answer(subject)
    problem = call_problem(result, "a version", "return the version from memory")
    if problem is not None:
        return [problem]
    try:
        meta = parse_meta(result.value)
    except PluginError as exc:
        return [Finding("plugin_version", "a PEP 440 version string, or a mapping with "
                        "'version' and the optional keys of docs/hooks.md",
                        f"{show(result.value)} ({exc})",
                        "return a string such as '1.2.0', or a mapping such as "
                        "{'version': '1.2.0', 'requires_api': '>=1.0,<2'}")]
    record = handle.record
    if meta.version != Version(record.dist_version):
        return [Finding("plugin_version", f"the version of the distribution "
                        f"{record.distribution}, {record.dist_version}", str(meta.version),
                        "read the version from one place (importlib.metadata.version("
                        f"'{record.distribution}'), or the __version__ that pyproject.toml "
                        "reads), then reinstall")]
    return []


def check_requires_api(subject: Subject) -> list[Finding]:
    from zepix_core.contract.api import API_VERSION

    _, result = _version_answer(subject)
    if not result.ok:
        raise Blocked("plugin_version does not answer; see the plugin_version check")
    text = result.value.get("requires_api") if isinstance(result.value, Mapping) else None
    if text is None:
        return []  # no requires_api: the plugin puts no limit on the host API
    api = Version(API_VERSION)
    fix = f"state the API versions the plugin works with, such as '>={api.major}.0,<{api.major + 1}'"
    try:
        spec = SpecifierSet(text) if isinstance(text, str) else None
    except InvalidSpecifier:
        spec = None
    if spec is None:
        return [Finding("plugin_version", "requires_api as a PEP 440 specifier string",
                        show(text), fix)]
    if not spec.contains(api, prereleases=True):
        return [Finding("plugin_version", f"requires_api to admit the host API {API_VERSION}",
                        f"'{spec}'", f"{fix}, or install a zepix-core whose API it admits")]
    return []


def check_settings(subject: Subject) -> list[Finding]:
    handle = subject.load()
    if not handle.implements("plugin_settings"):
        return []  # optional: a plugin without it gets its table unchecked
    result = handle.call("plugin_settings")
    problem = call_problem(result, "a list of settings", "return a constant list")
    if problem is not None:
        return [problem]
    example = ("return a list such as [{'name': 'fast', 'type': 'int', 'default': 5, "
               "'min': 1, 'description': 'fast average length'}]")
    try:
        declared = parse_settings(result.value)
    except PluginError as exc:
        return [Finding("plugin_settings", "settings with name, type, default and optional "
                        "min, max, choices, description", str(exc), example)]
    clash = sorted({s.name for s in declared or ()} & set(PLUGIN_DEFAULTS))
    if clash:
        return [Finding("plugin_settings", "names of the plugin's own settings",
                        f"{', '.join(clash)}, which the host reads itself",
                        "rename them: [plugins.<id>] keys of docs/operations.md belong to "
                        "the host")]
    return []
