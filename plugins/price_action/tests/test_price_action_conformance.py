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


def test_one_distribution_offers_all_four_timeframes() -> None:
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="zepix.plugins")
           if ep.name.startswith("price_action_")}
    assert sorted(eps) == ["price_action_15m", "price_action_1h", "price_action_1m",
                           "price_action_5m"]
    assert {ep.dist.name for ep in eps.values() if ep.dist} == {"zepix-price-action"}
