"""A plugin value passes the boundary before any host code reads it: a ``dict``
subclass whose ``get`` and ``__getitem__`` raise, returned from ``on_bar``, is
plain data or that call's error, never the end of the run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostileproc import hostile, zepix

TRAPS = '''
class Trap(dict):
    def get(self, *a, **k):
        raise RuntimeError("get is a trap")
    def __getitem__(self, key):
        raise RuntimeError("getitem is a trap")
    def __iter__(self):
        raise RuntimeError("iter is a trap")
    def __len__(self):
        raise RuntimeError("len is a trap")
    def keys(self):
        raise RuntimeError("keys is a trap")
    def items(self):
        raise RuntimeError("items is a trap")

class TrapList(list):
    def __iter__(self):
        raise RuntimeError("list iter is a trap")
    def __getitem__(self, i):
        raise RuntimeError("list getitem is a trap")
'''

BODY = '''
    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        intent = Trap(symbol=bar.symbol, side="buy", quantity=1.0, reason="trap")
        return [intent] if self.bars % 3 else TrapList([intent])
'''


def test_a_dict_subclass_whose_methods_raise_does_not_end_the_run(tmp_path: Path) -> None:
    root, home = tmp_path / "dists", tmp_path / "home"
    hostile(root, "trapdict", BODY, prelude=TRAPS)
    done = zepix(home, root, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "shut down cleanly" in done.stdout
    rows = {r["plugin_id"]: r for r in json.loads(zepix(home, root, "health", "--json").stdout)}
    assert rows["trapdict"]["signals_processed"] > 0
