"""Zepix bundled strategy V6: price-action setups, one plugin per timeframe."""

from ._plugin import (
    PriceAction1h,
    PriceAction1m,
    PriceAction5m,
    PriceAction15m,
    PriceActionPlugin,
)
from ._profiles import PROFILES, Profile
from ._version import __version__

__all__ = [
    "PROFILES",
    "PriceAction1h",
    "PriceAction1m",
    "PriceAction5m",
    "PriceAction15m",
    "PriceActionPlugin",
    "Profile",
    "__version__",
]
