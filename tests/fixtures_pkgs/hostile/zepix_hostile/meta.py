"""Metadata of the wrong shape."""

from zepix_core import hookimpl
from zepix_hostile._base import VERSION, Conforming


class Features(Conforming):
    @hookimpl
    def plugin_version(self):
        return {"version": VERSION, "features": True}


class OddKeys(Conforming):
    @hookimpl
    def plugin_version(self):
        return {"version": VERSION, 1: "one", None: "none", 2.5: ["x"]}
