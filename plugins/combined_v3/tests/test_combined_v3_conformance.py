"""combined_v3 honours the plugin contract: the conformance suite against its installed entry point."""

from zepix_core.testing import PluginConformance


class TestCombinedV3Conformance(PluginConformance):
    plugin_id = "combined_v3"
