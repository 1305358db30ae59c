"""The four price-action plugins honour the plugin contract: the conformance suite against
each installed entry point."""

from zepix_core.testing import PluginConformance


class TestPriceAction1mConformance(PluginConformance):
    plugin_id = "price_action_1m"


class TestPriceAction5mConformance(PluginConformance):
    plugin_id = "price_action_5m"


class TestPriceAction15mConformance(PluginConformance):
    plugin_id = "price_action_15m"


class TestPriceAction1hConformance(PluginConformance):
    plugin_id = "price_action_1h"
