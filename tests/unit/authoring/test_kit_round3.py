"""The author kit, round three: declared defaults in the harness and conformance,
the public_api check and the one list of what is public, value() of a missing hook."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core.authoring.conformance import run_check
from zepix_core.authoring.harness import load_installed
from zepix_core.contract.errors import ConfigError, PluginError
from zepix_core.contract.public import PUBLIC

#: The pattern docs/plugin-authoring.md recommends: declare a setting, read it in activate.
WINDOW = good_plugin().replace('''    @hookimpl
    def activate(self, context, config):
        self.active = True
''', '''    @hookimpl
    def plugin_settings(self):
        return [{"name": "window", "type": "int", "default": 20, "min": 2}]

    @hookimpl
    def activate(self, context, config):
        self.window = config["window"]
        self.active = True
''')


def test_what_is_public_is_one_list_equal_to_each_modules_all() -> None:
    for module, names in PUBLIC.items():
        assert sorted(names) == sorted(importlib.import_module(module).__all__), module
    from zepix_core import DatabaseLocked
    from zepix_core.plugindb import DatabaseLocked as where

    assert DatabaseLocked is where


def test_conformance_and_harness_activate_with_the_declared_defaults(
        dists: DistFactory, tmp_path: Path) -> None:
    assert "config[\"window\"]" in WINDOW
    dists.add("zepix-windowed", "1.0.0", {"windowed": "windowed_mod:Plugin"},
              {"windowed_mod": WINDOW})
    paths = [str(dists.root)]
    for check in ("lifecycle", "health_ping", "no_leaks"):
        result = run_check(check, "windowed", tmp_path / check, paths, settle=0.2)
        assert result.outcome == "passed", (check, result.report(), result.blocked)
    with load_installed("windowed", paths) as handle:
        assert handle.activate(tmp_path / "data").ok
        assert handle.obj.window == 20  # type: ignore[attr-defined]
        assert handle.activate(tmp_path / "data", {"window": 7}).ok
        assert handle.obj.window == 7  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match="plugins.windowed.windw: unknown setting; "
                                              "did you mean 'window'"):
            handle.activate(tmp_path / "data", {"windw": 7})
        with pytest.raises(ConfigError, match="window: got 1"):
            handle.activate(tmp_path / "data", {"window": 1})


def test_value_of_a_hook_the_plugin_does_not_implement_raises(
        dists: DistFactory) -> None:
    dists.add("zepix-plain", "1.0.0", {"plain": "plain_mod:Plugin"},
              {"plain_mod": good_plugin()})
    with load_installed("plain", [str(dists.root)]) as handle:
        with pytest.raises(PluginError, match="plugin plain does not implement plugin_settings; "
                                              "add a method plugin_settings marked @hookimpl"):
            handle.value("plugin_settings")
        assert handle.value("self_test") is True


PRIVATE = '''from zepix_core.plugindb._pool import DatabaseLocked
import zepix_core.host.host
from zepix_core import hookimpl, Bar
from zepix_core.loading.config import PLUGIN_DEFAULTS
'''


def test_public_api_names_each_private_import_and_its_replacement(
        dists: DistFactory, tmp_path: Path) -> None:
    dists.add("zepix-sneaky", "1.0.0", {"sneaky": "sneaky_mod:Plugin"},
              {"sneaky_mod": PRIVATE + good_plugin()})
    dists.add("zepix-clean", "1.0.0", {"clean": "clean_mod:Plugin"},
              {"clean_mod": good_plugin()})
    paths = [str(dists.root)]
    assert run_check("public_api", "clean", tmp_path, paths).outcome == "passed"
    result = run_check("public_api", "sneaky", tmp_path, paths)
    assert result.outcome == "failed"
    lines = [str(f) for f in result.findings]
    source = str(dists.root / "sneaky_mod.py")
    assert len(lines) == 3, lines
    assert (f"{source}:1 imports DatabaseLocked from the private module "
            "zepix_core.plugindb._pool; write 'from zepix_core import DatabaseLocked' "
            "instead") in lines[0]
    assert f"{source}:2 imports zepix_core.host.host" in lines[1]
    assert f"{source}:4 imports PLUGIN_DEFAULTS from the private module" in lines[2]
    assert "What is public" in lines[2]


def test_a_nan_metric_gets_advice_about_finite_numbers(
        dists: DistFactory, tmp_path: Path) -> None:
    source = good_plugin().replace('return {"signals_processed": self.bars}',
                                   'return {"signals_processed": self.bars, '
                                   '"edge": float("nan")}')
    assert "float(\"nan\")" in source
    dists.add("zepix-nan", "1.0.0", {"nanny": "nanny_mod:Plugin"}, {"nanny_mod": source})
    result = run_check("get_metrics", "nanny", tmp_path, [str(dists.root)])
    assert result.outcome == "failed"
    text = str(result.findings[0])
    assert "a reply the host refuses: get_metrics reply['edge']: nan is not a finite number" \
        in text
    assert "NaN and infinity cannot be stored or compared" in text
    assert "math.isfinite" in text and "instead of raising" not in text
