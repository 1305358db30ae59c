"""What the soak injects and checks, and the table it prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

FAULTS = ("worker_kill", "host_kill", "host_stop", "db_lock", "fd_flood", "hang",
          "config_invalid", "full_disk", "ledger_down", "alertmanager_down")
#: Kinds that need a server the soak may stop and start (``Postgres``, ``Alertmanager``).
NEEDS_SERVER = ("ledger_down", "alertmanager_down")
INVARIANTS = ("bars", "activations", "integrity", "ledger", "alerts", "processes", "stops",
              "alive")
SHUTDOWN_TIMEOUT = 30.0


@dataclass
class Report:
    seed: int
    seconds: float
    faults: Counter[str] = field(default_factory=Counter)
    #: invariant -> problems found (empty: it held)
    problems: dict[str, list[str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    stops: list[float] = field(default_factory=list)
    trades: int = 0
    #: invariant -> why it was not checked (``alerts`` without an Alertmanager)
    unchecked: dict[str, str] = field(default_factory=dict)
    #: bars the hosts were fed, all runs; "plugin: reason" -> bars dropped
    bars: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def fail(self, invariant: str, problem: str) -> None:
        self.problems.setdefault(invariant, []).append(problem)

    def table(self) -> str:
        lines = [f"chaos soak: seed {self.seed}, {self.seconds:.0f} s",
                 "", f"{'fault':<18} injected"]
        lines += [f"{kind:<18} {self.faults.get(kind, 0)}" for kind in FAULTS
                  if kind in self.faults or kind not in NEEDS_SERVER]
        lines += ["", f"{'invariant':<18} held"]
        for name in INVARIANTS:
            problems = self.problems.get(name, [])
            held = "yes" if not problems else "NO: " + problems[0]
            if name in self.unchecked and not problems:
                held = f"not checked ({self.unchecked[name]})"
            lines.append(f"{name:<18} {held}")
            lines += [f"{'':<18} {p}" for p in problems[1:5]]
        lines.append(f"\nbars fed (all runs of the host, by its own count): {self.bars}")
        lines += [f"  {n:>7} dropped for {what}" for what, n in sorted(self.dropped.items())]
        lines.append(f"paper trades checked against the ledger: {self.trades}")
        if self.stops:
            lines.append(f"stops: {len(self.stops)}, slowest {max(self.stops):.1f} s "
                         f"(limit {SHUTDOWN_TIMEOUT:.0f} s)")
        if not self.ok:
            lines.append(f"\nFAILED: reproduce with python -m zepix_core.chaos --seed "
                         f"{self.seed} --minutes {self.seconds / 60:g}")
        return "\n".join(lines)

    def document(self) -> dict[str, object]:
        return {"seed": self.seed, "seconds": self.seconds, "faults": dict(self.faults),
                "invariants": {n: not self.problems.get(n) for n in INVARIANTS
                               if n not in self.unchecked},
                "problems": self.problems, "bars": self.bars, "dropped": dict(self.dropped),
                "trades": self.trades, "ok": self.ok}
