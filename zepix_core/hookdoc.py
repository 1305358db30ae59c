"""Deprecated: moved to ``zepix_core.authoring.hookdoc``; this path goes away in 1.2."""

import warnings

from zepix_core.authoring import hookdoc as _moved
from zepix_core.authoring.hookdoc import *

warnings.warn("zepix_core.hookdoc moved to zepix_core.authoring.hookdoc; import it from there",
              DeprecationWarning, stacklevel=2)
__all__ = [name for name in dir(_moved) if not name.startswith("__")]
