"""combined_v3 honours the plugin contract: the conformance suite against its installed entry point."""

from zepix_core.testing import PluginConformance


class TestCombinedV3Conformance(PluginConformance):
    plugin_id = "combined_v3"


def test_entry_point_names_the_plugin_class() -> None:
    from importlib.metadata import entry_points

    [ep] = entry_points(group="zepix.plugins", name="combined_v3")
    assert ep.value == "zepix_combined_v3:CombinedV3"
    assert ep.dist is not None and ep.dist.name == "zepix-combined-v3"
