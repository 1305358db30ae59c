"""Zepix bundled strategy V3: combined trend and momentum logic on 5m bars."""

from ._plugin import CombinedV3
from ._version import __version__

__all__ = ["CombinedV3", "__version__"]
