"""A third-party plugin that loads fine but reports a version that is not PEP 440."""

from zepix_core import hookimpl


class Plugin:
    @hookimpl
    def plugin_version(self):
        return {"version": "not-a-version", "requires_api": ">=1.0,<2"}

    @hookimpl
    def health_ping(self, now):
        return True

    @hookimpl
    def get_metrics(self):
        return {}

    @hookimpl
    def self_test(self):
        return True
