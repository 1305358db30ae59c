"""Version resolution rules, pure: PEP 440 metadata, requires_api, pins, requires, cycles."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from zepix_core import PluginError, PluginState
from zepix_core.loading.resolution import Candidate, PluginPolicy, parse_meta, resolve


def cand(pid: str, version: str = "1.0.0", api: str = "", **requires: str) -> Candidate:
    meta = parse_meta({"version": version, "requires_api": api, "requires": requires})
    return Candidate(pid, Version(version), meta)


def test_string_and_mapping_metadata() -> None:
    assert parse_meta("3.2.0").version == Version("3.2.0")
    meta = parse_meta({"version": "6.1.0", "requires_api": ">=1,<2", "features": ["a"],
                       "requires": {"combined_v3": "~=3.2"}, "author": "x"})
    assert meta.requires == {"combined_v3": SpecifierSet("~=3.2")}
    assert meta.features == ("a",)


@pytest.mark.parametrize("value, cause", [
    ("not-a-version", "not a valid PEP 440 version"),
    ({"version": "1.0", "requires_api": "=>1"}, "requires_api '=>1' is not a valid"),
    ({"requires_api": ">=1"}, "no 'version' key"),
    ([1, 2], "returned list"),
    ({"version": "1.0", "colour": "red"}, "unknown key(s) colour"),
    ({"version": "1.0", "features": "abc"}, "features must be a list"),
    ({"version": 1.0}, "version must be a string"),
])
def test_invalid_metadata_names_the_problem(value: object, cause: str) -> None:
    with pytest.raises(PluginError, match=cause.replace("(", r"\(").replace(")", r"\)")):
        parse_meta(value)


def test_requires_api_excluding_host_is_rejected() -> None:
    res = resolve({"a": cand("a", api=">=2")}, "1.0", {})
    assert res.order == []
    assert res.verdicts["a"] == (PluginState.REJECTED, "requires_api '>=2' excludes host API 1.0")


def test_dependency_order_and_version_check() -> None:
    plugins = {"c": cand("c", b=">=1"), "b": cand("b", a="~=1.0"), "a": cand("a", "1.0.5")}
    res = resolve(plugins, "1.0", {})
    assert res.order == ["a", "b", "c"] and res.verdicts == {}


def test_unsatisfied_requirement_names_the_chain() -> None:
    plugins = {"c": cand("c", b=">=1"), "b": cand("b", a=">=2"), "a": cand("a", "1.0")}
    res = resolve(plugins, "1.0", {})
    assert res.order == ["a"]
    assert res.verdicts["b"][1] == "requires a '>=2' but a 1.0 is available"
    assert res.verdicts["c"][1].startswith("requires b '>=1', which is REJECTED: requires a")


def test_missing_requirement() -> None:
    res = resolve({"b": cand("b", ghost=">=1")}, "1.0", {})
    assert res.verdicts["b"] == (PluginState.REJECTED, "requires ghost '>=1', which is not installed")


def test_cycle_is_rejected_and_named_and_dependents_follow() -> None:
    plugins = {"x": cand("x", y=">=1"), "y": cand("y", x=">=1"), "z": cand("z", x=">=1"),
               "free": cand("free")}
    res = resolve(plugins, "1.0", {})
    assert res.order == ["free"]
    for pid in ("x", "y"):
        state, why = res.verdicts[pid]
        assert state is PluginState.REJECTED and why.startswith("dependency cycle: ")
        assert "x -> y" in why or "y -> x" in why
    assert "which is REJECTED: dependency cycle" in res.verdicts["z"][1]


def test_self_dependency_is_a_cycle() -> None:
    res = resolve({"s": cand("s", s=">=1")}, "1.0", {})
    assert res.verdicts["s"][1] == "dependency cycle: s -> s"


def test_pins_disable_and_prereleases() -> None:
    plugins = {"p": cand("p", "3.1.0"), "off": cand("off"), "pre": cand("pre", "2.0.0b1"),
               "pre_ok": cand("pre_ok", "2.0.0rc1")}
    policies = {"p": PluginPolicy(pin=SpecifierSet("~=3.2")), "off": PluginPolicy(enabled=False),
                "pre_ok": PluginPolicy(allow_prereleases=True)}
    res = resolve(plugins, "1.0", policies)
    assert res.verdicts["p"][1] == "version 3.1.0 does not satisfy the pin '~=3.2' in config"
    assert res.verdicts["off"][0] is PluginState.INACTIVE
    assert "pre-release" in res.verdicts["pre"][1] and "allow_prereleases" in res.verdicts["pre"][1]
    assert res.order == ["pre_ok"]


def test_requirement_on_disabled_plugin_is_explained() -> None:
    res = resolve({"a": cand("a"), "b": cand("b", a=">=1")}, "1.0", {"a": PluginPolicy(enabled=False)})
    assert res.verdicts["b"][1] == ("requires a '>=1', which is INACTIVE: disabled in config "
                                    "(enabled = false)")
