"""Module size (issue 23): a module over ~400 lines is asking to be split, and
the host module keeps only its slot table and its sequences."""

from __future__ import annotations

from tests.paths import ROOT

#: No module of zepix_core ends above this many lines.
MOST = 400
#: ``host/host.py``: the slot table and the start/reload/stop sequence only.
HOST_MOST = 250


def _lines(rel: str) -> int:
    return len((ROOT / "zepix_core" / rel).read_text(encoding="utf-8").splitlines())


def test_no_module_of_the_core_is_over_400_lines() -> None:
    over = sorted(f"{path.relative_to(ROOT).as_posix()}: {n} lines"
                  for path in (ROOT / "zepix_core").rglob("*.py")
                  if (n := len(path.read_text(encoding="utf-8").splitlines())) > MOST)
    assert over == [], f"split these (at most {MOST} lines a module):\n" + "\n".join(over)


def test_the_host_module_keeps_only_the_slot_table_and_its_sequences() -> None:
    assert _lines("host/host.py") < HOST_MOST
