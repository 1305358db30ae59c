"""A third-party plugin whose entry point cannot be imported: a dependency is missing."""

import zepix_missing_dependency  # noqa: F401  (deliberately not installed anywhere)

from zepix_core import hookimpl


class Plugin:
    @hookimpl
    def plugin_version(self):
        return "0.1.0"

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {}

    @hookimpl
    def self_test(self):
        return True
