"""``python -m zepix_core.chaos --seed N --minutes M``."""

import sys

from zepix_core.chaos.cli import main

if __name__ == "__main__":
    sys.exit(main())
