"""Deprecated: moved to ``zepix_core.authoring.pytest_plugin``; this path goes away in 1.2."""

import warnings

from zepix_core.authoring import pytest_plugin as _moved
from zepix_core.authoring.pytest_plugin import *

warnings.warn("zepix_core.pytest_plugin moved to zepix_core.authoring.pytest_plugin; import it from there",
              DeprecationWarning, stacklevel=2)
__all__ = [name for name in dir(_moved) if not name.startswith("__")]
