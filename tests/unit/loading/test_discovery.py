"""Discovery against real dist-info entry points, including deliberately broken plugins."""

from __future__ import annotations

import pytest

from tests.distfactory import DistFactory, good_plugin
from zepix_core import PluginState
from zepix_core.loading.discovery import LoadFailure, enumerate_plugins, load_plugin


def _load_all(dists: DistFactory) -> dict[str, tuple[PluginState, str | None]]:
    out: dict[str, tuple[PluginState, str | None]] = {}
    for rec in enumerate_plugins([str(dists.root)]):
        try:
            pm = load_plugin(rec)
        except LoadFailure as exc:
            out[rec.plugin_id] = (exc.state, str(exc))
        else:
            assert pm.get_plugin(rec.plugin_id) is not None
            out[rec.plugin_id] = (PluginState.DISCOVERED, None)
    return out


def test_good_plugin_loads_on_its_own_manager(dists: DistFactory) -> None:
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    [rec] = enumerate_plugins([str(dists.root)])
    assert (rec.plugin_id, rec.distribution, rec.dist_version) == ("good", "zepix-good", "1.0.0")
    pm = load_plugin(rec)
    assert pm.hook.health_ping(now=5.0) == {"ok": True, "last_activity": 5.0}


BROKEN = {
    "import_error": ("import_error_mod", "import not_a_module_anywhere\n",
                     PluginState.FAILED, "ModuleNotFoundError"),
    "missing_attr": ("missing_attr_mod", "x = 1\n", PluginState.FAILED, "cannot import"),
    "ctor_raises": ("ctor_raises_mod", ("class Plugin:\n    def __init__(self):\n"
                    "        raise RuntimeError('no api key')\n"),
                    PluginState.FAILED, "RuntimeError: no api key"),
    "bad_signature": ("bad_signature_mod", good_plugin().replace(
        "def health_ping(self, now)", "def health_ping(self, now, extra)"),
        PluginState.REJECTED, "extra"),
    "missing_hook": ("missing_hook_mod", good_plugin().replace(
        "    @hookimpl\n    def self_test(self):\n        return True\n", ""),
                     PluginState.REJECTED, "missing required hook(s) self_test"),
    "unknown_hook": ("unknown_hook_mod", good_plugin().replace("def on_bar", "def on_barr"),
                     PluginState.REJECTED, "on_barr"),
}


@pytest.mark.parametrize("plugin_id", sorted(BROKEN))
def test_broken_plugin_is_isolated(dists: DistFactory, plugin_id: str) -> None:
    module, source, state, cause = BROKEN[plugin_id]
    attr = "Plugin"
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    dists.add(f"zepix-{plugin_id}", "0.1.0", {plugin_id: f"{module}:{attr}"}, {module: source})
    results = _load_all(dists)
    assert results["good"] == (PluginState.DISCOVERED, None)
    got_state, reason = results[plugin_id]
    assert got_state is state
    assert reason is not None and "\n" not in reason
    assert f"'{plugin_id}'" in reason and f"zepix-{plugin_id}" in reason and cause in reason


def test_duplicate_id_rejects_both_offers(dists: DistFactory) -> None:
    dists.add("zepix-a", "1.0.0", {"twin": "twin_a:Plugin"}, {"twin_a": good_plugin()})
    dists.add("zepix-b", "2.0.0", {"twin": "twin_b:Plugin"}, {"twin_b": good_plugin("2.0.0")})
    records = enumerate_plugins([str(dists.root)])
    assert [r.state for r in records] == [PluginState.REJECTED, PluginState.REJECTED]
    other = {"zepix-a": "zepix-b", "zepix-b": "zepix-a"}
    for rec in records:
        assert f"also offered by {other[rec.distribution]}" in (rec.reason or "")


def test_invalid_id_rejected_before_import(dists: DistFactory) -> None:
    dists.add("zepix-caps", "1.0.0", {"BadId": "never_imported:Plugin"})
    [rec] = enumerate_plugins([str(dists.root)])
    assert rec.state is PluginState.REJECTED and "invalid plugin id" in (rec.reason or "")
    with pytest.raises(LoadFailure) as err:
        load_plugin(rec)
    assert err.value.state is PluginState.REJECTED


def test_failed_validation_leaves_no_hooks_behind(dists: DistFactory) -> None:
    module, source, _, _ = BROKEN["bad_signature"]
    dists.add("zepix-bad", "0.1.0", {"bad": f"{module}:Plugin"}, {module: source})
    [rec] = enumerate_plugins([str(dists.root)])
    with pytest.raises(LoadFailure):
        load_plugin(rec)
    dists.add("zepix-good", "1.0.0", {"good": "good_mod:Plugin"}, {"good_mod": good_plugin()})
    good = next(r for r in enumerate_plugins([str(dists.root)]) if r.plugin_id == "good")
    pm = load_plugin(good)
    assert [impl.plugin_name for impl in pm.hook.health_ping.get_hookimpls()] == ["good"]
