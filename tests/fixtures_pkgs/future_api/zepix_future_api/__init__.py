"""A third-party plugin written for a host plugin API this host does not offer."""

from zepix_core import hookimpl


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {"version": "2.0.0", "requires_api": ">=2"}

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {}

    @hookimpl
    def self_test(self):
        return True
