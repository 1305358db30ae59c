"""Answers that are not what the contract asks for, and worse."""

import os
import struct
import sys
import threading
import time

from zepix_core import hookimpl
from zepix_hostile._base import Conforming

print("zepix_hostile.answers imported")  # stdout, where --json output goes


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("this exception cannot be printed")


class UnprintableError(Conforming):
    @hookimpl
    def health_ping(self, now):
        raise Unprintable()


class Milliseconds(Conforming):
    @hookimpl
    def health_ping(self, now):
        return {"ok": True, "last_activity": time.time() * 1000}


class Chatty(Conforming):
    def __init__(self):
        print("Chatty constructed")

    @hookimpl
    def health_ping(self, now):
        print("ping!", now)
        return True

    @hookimpl
    def get_metrics(self):
        print('{"not": "the host\'s json"}')
        return {"signals_processed": 1}

    @hookimpl
    def self_test(self):
        print("self test says yes")
        return "yes"


class Lingering(Conforming):
    @hookimpl
    def activate(self, context, config):
        threading.Thread(target=self._forever, name="lingering", daemon=False).start()

    @staticmethod
    def _forever():
        while True:
            time.sleep(0.5)

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": 1, "pnl": float("nan")}


class Blowup(Conforming):
    @hookimpl
    def get_metrics(self):
        shared = []
        for _ in range(24):  # 3**24 leaves, a few hundred bytes of references
            shared = [shared, shared, shared]
        return {"signals_processed": shared}

    @hookimpl
    def on_bar(self, bar):
        return [{"symbol": bar.symbol, "side": "buy", "quantity": float("inf")}]


class FrameForger(Conforming):
    """In a worker process, writes a frame header announcing 4 GiB to the host."""

    @hookimpl
    def health_ping(self, now):
        if "--fd" in sys.argv:
            fd = int(sys.argv[sys.argv.index("--fd") + 1])
            os.write(fd, struct.pack("!I", 0xFFFFFFFF))
            time.sleep(5)
        return True

    @hookimpl
    def get_metrics(self):
        return {"signals_processed": "many"}
