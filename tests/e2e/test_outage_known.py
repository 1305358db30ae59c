"""Once any write of a running host finds ``zepix.db`` locked, the outage is known and
every write, of any thread, fails at once until a flush succeeds (issue 22: writes
outside the deferred queue).

Defect covered: only the deferred kinds (snapshots, events, alerts, ...) and the
round's own steps marked the outage. A write of another kind that failed (an
alert delivery's record on a sink's thread, retry statistics, the config in
force) left it unknown, so the next writer waited its whole first wait (1 s)
again, holding the connection's lock that the round and the bars' bookkeeping
need, once per delivery, until a round happened to mark it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.locker import LOCKER
from zepix_core.contract.errors import StorageError
from zepix_core.storage import Store


def test_a_failed_write_of_any_kind_makes_the_outage_known(tmp_path: Path) -> None:
    store = Store(tmp_path / "zepix.db")
    store.defer_writes = True  # as a running host sets it
    assert store.outage is None and store.write_wait == 1.0
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(store.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        with pytest.raises(StorageError, match="locked"):  # not a deferred kind: it fails
            store.record_delivery("fingerprint", "log", True, None, 1.0)
        assert store.outage is not None and "locked" in store.outage
        assert store.write_wait == 0.0  # the next writer does not wait again
        with pytest.raises(StorageError):
            store.save_accuracy({"a": (1, 2)})
        assert store.flush_deferred() is False  # nothing waits, yet the database is out
        assert store.outage is not None
    finally:
        assert locker.stdin is not None
        locker.stdin.write("\n")
        locker.stdin.close()
        locker.wait(60)
    store.save_accuracy({"a": (1, 2)})  # a write that succeeds does not end the outage by
    assert store.flush_deferred() is True  # itself; the round's flush does
    assert store.outage is None and store.write_wait == 1.0
    assert store.accuracy_counts() == {"a": (1, 2)}
    store.close()


def test_a_write_refused_for_its_content_is_no_outage(tmp_path: Path) -> None:
    store = Store(tmp_path / "zepix.db")
    store.defer_writes = True
    with pytest.raises(StorageError):
        store.execute("INSERT INTO hosts (host_id) VALUES (NULL)")  # NOT NULL: a bug, no outage
    assert store.outage is None and store.write_wait == 1.0
    store.close()
