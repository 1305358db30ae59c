"""A conforming plugin the hostile ones start from."""

from zepix_core import hookimpl

VERSION = "0.1.0"


class Conforming:
    @hookimpl
    def plugin_version(self):
        return VERSION

    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": now}

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": 0}

    @hookimpl
    def self_test(self):
        return True
