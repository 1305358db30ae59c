"""The chaos soak: a seeded fault-injection run of a real ``zepix run``.

    python -m zepix_core.chaos --seed 7 --minutes 3 [--keep DIR] [--json]

It writes a CSV of bars, a config and three plugins of its own beside the
installed (bundled) ones (``scene``), starts ``zepix run --source csv`` as a
real subprocess (``hostproc``), and until the time is up injects faults one
after the other (``faults``): each kind of ``FAULTS`` once in a seeded order,
then kinds chosen at random with the seed. Then it stops the host (SIGTERM)
and checks the invariants (``checks``) and prints a table of faults injected
and invariants held (``report``), and on a failure the seed that reproduces it.
Exit 0 when every invariant held, else 1 (``cli``).

docs/hardening.md ("The chaos soak") lists the faults and the invariants.
"""

from zepix_core.chaos.cli import main
from zepix_core.chaos.report import FAULTS, INVARIANTS, Report
from zepix_core.chaos.soak import Alertmanager, Postgres, Soak, soak

__all__ = ["FAULTS", "INVARIANTS", "Alertmanager", "Postgres", "Report", "Soak", "main", "soak"]
