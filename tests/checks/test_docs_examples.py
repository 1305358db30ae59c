"""The shell examples of README.md and docs/ that start with ``zepix``: every one parses
with today's CLI (no stale command or flag), and every one RUNS against a scratch home,
beside a real ``zepix run`` started for this module on a free loopback port (so the
commands that talk to a running host have one). An example that cannot run here is
listed in ``NOT_RUN`` with the reason; a shell line that calls zepix indirectly (sudo,
docker, systemd, a shell loop) is listed in ``INDIRECT`` with the reason.

How an example runs: ``zepix run`` and ``zepix dev`` as real subprocesses (each run in its
own scratch home; an endless one gets Ctrl-C once it is up and must still end cleanly);
the guides' own plugins (``my_strategy``, ``ema_trend``, made with ``zepix new-plugin``)
pip-installed into a scratch prefix that only their subprocess sees; everything else
in this process, in doc order, while the module's host runs (``restore`` after it stopped).
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.runproc import Running
from tests.venvs import clean_env
from tests.waiting import wait_until
from zepix_core.app import dev
from zepix_core.cli.main import build_parser, main
from zepix_core.market.csvfile import write_csv
from zepix_core.market.replay import MarketReplay

#: The languages of the fenced blocks whose lines are shell (a plain block: its ``$ `` lines).
SHELL = ("sh", "bash", "console", "shell", "")
#: A shell line that calls zepix somewhere, not at its start.
CALLS_ZEPIX = re.compile(r"(^|[\s/])zepix\s+[a-z]")
#: What a placeholder in an example stands for here.
PLACEHOLDERS = {"ID": "combined_v3", "NAME": "my-strategy",
                "SOURCE": str(ROOT / "plugins" / "combined_v3"),
                "N": "5", "YYYY-MM-DD": "2024-01-01", "PLUGIN": "combined_v3"}
#: Plugins the guides write themselves (``zepix new-plugin`` projects), by project.
AUTHORED = {"my_strategy": "my-strategy", "ema_trend": "ema-trend"}
#: The config of every scratch home: a short warm-up, a round every second.
CONFIG = "[host]\ninterval = 1\nwarmup_bars = 300\nbars_per_round = 2\n"

#: Examples that do not run here (matched as a substring), and why.
NOT_RUN = {
    "zepix_demo": "operations.md's version walkthrough: it builds four wheels of a demo "
                  "plugin by hand (sed edits) and waits out probation rounds; the same "
                  "commands run in tests/e2e/test_versions.py and tests/unit/versions/test_canary.py",
}

#: Shell lines that call zepix but not as a command of their own (``a && zepix ...`` is
#: an example), matched as a substring, and why they do not run here.
INDIRECT = {
    "sudo -u zepix env ZEPIX_HOME=/var/lib/zepix": "needs the zepix system user and "
        "/opt/zepix of the systemd deploy (deploy.md); 'zepix health' itself runs above",
    "docker exec zepix zepix health": "needs Docker and the built image (deploy.md)",
    "for v in 1.1.0 1.2.0 2.0.0; do zepix install": NOT_RUN["zepix_demo"],
}


def _bogus_key(home: Path) -> None:
    """The file has the unknown key the example removes (a typo an operator repairs)."""
    path = home / "zepix.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[host]\n", "[host]\nbogus = 1\n", 1),
                    encoding="utf-8")


#: What an example assumes of the scratch home, made just before it runs.
BEFORE = {"config unset host.bogus": _bogus_key}


@dataclass(frozen=True)
class Example:
    where: str
    argv: list[str]


def examples() -> list[Example]:
    found = []
    for line, path in _shell_lines():
        for part in line.split("&&"):
            text = part.strip().removeprefix(".venv/bin/")
            if text.startswith("zepix ") and "<<" not in text and "|" not in text:
                found.append(Example(f"{path.name}: {text}", _argv(text)))
    return found


def _shell_lines() -> Iterator[tuple[str, Path]]:
    """Every command line of the shell blocks (a plain block: its ``$ `` lines)."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for lang, block in _blocks(path.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                text = line.strip()
                if not lang and not text.startswith("$ "):
                    continue  # a plain block's other lines are output
                yield text.removeprefix("$ "), path


def _blocks(text: str) -> Iterator[tuple[str, str]]:
    """The fenced blocks of a Markdown text in a shell language: (language, body)."""
    lang: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if lang is None:
                lang, body = line.strip()[3:].strip(), []
            else:
                if lang in SHELL:
                    yield lang, "\n".join(body)
                lang = None
        elif lang is not None:
            body.append(line)


def indirect() -> list[str]:
    return [line for line, _ in _shell_lines()
            if CALLS_ZEPIX.search(line) and not line.startswith("#")
            and not any(part.strip().removeprefix(".venv/bin/").startswith("zepix ")
                        for part in line.split("&&"))]


def _argv(text: str) -> list[str]:
    words = shlex.split(text, comments=True)[1:]
    kept, depth = [], 0
    for word in words:  # [--json], [ID], [--limit N]: optional, left out
        depth += word.count("[") if word.startswith("[") else 0
        if depth == 0:
            kept.append(PLACEHOLDERS.get(word, word))
        depth -= word.count("]") if depth and word.endswith("]") else 0
    return kept


EXAMPLES = examples()


def test_the_docs_have_zepix_examples() -> None:
    assert len(EXAMPLES) > 80


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_every_documented_command_line_parses(example: Example) -> None:
    parser = build_parser()
    try:
        parser.parse_args(example.argv)
    except SystemExit as exc:
        assert exc.code == 0, f"{example.where}: the CLI refuses {example.argv}"


def test_every_example_left_out_is_listed_and_still_in_the_docs() -> None:
    for skip in NOT_RUN:
        assert any(skip in e.where for e in EXAMPLES), f"{skip!r} no longer in the docs"
    lines = indirect()
    for line in lines:
        assert any(key in line for key in INDIRECT), f"calls zepix, neither run nor listed: {line}"
    for key in INDIRECT:
        assert any(key in line for line in lines), f"{key!r} no longer in the docs"


# --- running them --------------------------------------------------------------------


def _runs(e: Example) -> bool:
    return not any(skip in e.where for skip in NOT_RUN)


def _how(e: Example) -> str:
    """Where an example runs: ``run``/``dev``/``authored`` in subprocesses beside the
    module's host, ``restore`` after it stopped, else ``here`` (in this process)."""
    if e.argv[0] in ("run", "dev", "restore"):
        return e.argv[0]
    if e.argv[0] == "backtest" and any(a.split(".")[0] in AUTHORED for a in e.argv[1:]):
        return "authored"
    return "here"


def _home(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "zepix.toml").write_text(CONFIG, encoding="utf-8")
    return path


def _workdir(path: Path, bars: Path) -> Path:
    """A fresh working directory with the files the examples name (bars.csv, data/)."""
    path.mkdir(parents=True)
    shutil.copy(bars, path / "bars.csv")
    (path / "data").mkdir()
    shutil.copy(bars, path / "data" / "BTCUSD.csv")
    return path


def _local(argv: list[str], scratch: Path) -> list[str]:
    """Paths outside the scratch directory (the backup example's /var/backups) moved in."""
    return [str(scratch / "backups" / Path(a).name) if a.startswith("/var/") else a
            for a in argv]


def _problem(where: str, code: int, out: str, err: str) -> str | None:
    """Why the run of an example failed, or None: an exit status other than 0, a
    traceback, an error line."""
    errors = [ln for ln in err.splitlines() if re.match(r"zepix: (error|.*: error)", ln)]
    if code == 0 and "Traceback" not in out + err and not errors:
        return None
    return f"{where}: exit {code}: {(err or out).strip()[-400:]}"


class Scratch:
    """The module's scratch directory: the host's home, bars.csv, and one fresh working
    directory per example."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = _home(root / "home")
        replay = MarketReplay(symbols=("BTCUSD",))
        write_csv(root / "bars.csv",
                  [b for _ in range(2000) for b in replay.next_bars() if b.timeframe == "1m"])
        self._site: Path | None = None
        self._lock = threading.Lock()

    def work(self, n: int) -> Path:
        return _workdir(self.root / "work" / str(n), self.root / "bars.csv")

    def zepix(self, *argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "zepix_core.cli.main", *argv], cwd=cwd,
                              env=clean_env(self.home, **env), capture_output=True, text=True,
                              timeout=600, check=False)

    def authored_site(self) -> Path:
        """The guides' own plugins, made with ``zepix new-plugin`` and pip-installed into
        a scratch prefix (not into this environment): the directory for PYTHONPATH."""
        with self._lock:
            if self._site is None:
                projects = self.root / "projects"
                for project in AUTHORED.values():
                    assert self.zepix("new-plugin", project, "--dir", str(projects),
                                      cwd=self.root).returncode == 0
                prefix = self.root / "prefix"
                subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                                "--no-build-isolation", "--no-index",
                                "--disable-pip-version-check", "--prefix", str(prefix),
                                *(str(projects / p) for p in AUTHORED.values())],
                               check=True, capture_output=True, timeout=600)
                self._site = dev.site_dir(prefix)
            return self._site


def _authored(e: Example, scratch: Scratch, n: int) -> str | None:
    """A backtest of a guide's own plugin, in a subprocess that sees the scratch prefix
    (its --jobs workers too)."""
    site = scratch.authored_site()
    done = scratch.zepix(*e.argv, cwd=scratch.work(n), PYTHONPATH=str(site))
    return _problem(e.where, done.returncode, done.stdout, done.stderr)


def _zepix_run(e: Example, scratch: Scratch, n: int) -> str | None:
    """``zepix run ...`` in its own scratch home: a finite run to its end; an endless one
    gets Ctrl-C once its host is up, and must still end with a round and a clean stop."""
    run = Running(_home(scratch.root / "runs" / str(n)), *e.argv[1:], cwd=scratch.work(n))
    try:
        if not ("--once" in e.argv or "csv" in e.argv):
            run.url()
            run.proc.send_signal(signal.SIGINT)
        code = run.proc.wait(300)
    finally:
        run.stop()
    out, err = "\n".join(run.out), "\n".join(run.err)
    if "shut down cleanly" not in out or "round " not in out:
        return f"{e.where}: no last round or clean stop:\n{run.tail()}"
    return _problem(e.where, code, out, err)


def _zepix_dev(e: Example, scratch: Scratch, n: int) -> str | None:
    """``zepix dev ./my-strategy`` (a project ``zepix new-plugin`` made): Ctrl-C after its
    first cycle."""
    work = scratch.work(n)
    assert scratch.zepix("new-plugin", "my-strategy", cwd=work).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "zepix_core.cli.main", *e.argv], cwd=work,
                            env=clean_env(scratch.home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            if "watching for changes" in line:
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # never left running, whatever failed
            proc.kill()
            proc.wait(30)
    out = "".join(lines) + out
    if "checks pass" not in out:
        return f"{e.where}: no conformance result: {out[-400:]} {err[-400:]}"
    return _problem(e.where, proc.returncode, out, err)


def _here(e: Example, scratch: Scratch, n: int, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> str | None:
    monkeypatch.chdir(scratch.work(n))
    for key, make in BEFORE.items():
        if key in e.where:
            make(scratch.home)
    capsys.readouterr()
    try:
        code = main(_local(e.argv, scratch.root))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return _problem(e.where, code, out, err)


BACKGROUND = {"authored": _authored, "dev": _zepix_dev, "run": _zepix_run}


def test_every_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """One host (a real ``zepix run`` on a free loopback port) for every example that
    talks to a running host; the subprocess examples beside it, two at a time."""
    scratch = Scratch(tmp_path)
    for name, value in clean_env(scratch.home, ZEPIX_HTTP_LISTEN="127.0.0.1:0").items():
        if name.startswith("ZEPIX"):
            monkeypatch.setenv(name, value)
    runs = list(enumerate(e for e in EXAMPLES if _runs(e)))
    assert len(runs) >= 70
    failed: list[str | None] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(BACKGROUND[_how(e)], e, scratch, n)
                for how in BACKGROUND for n, e in runs if _how(e) == how]
        host = Running(scratch.home)
        try:
            host.url()
            wait_until(lambda: main(["status"]) == 0, timeout=120, step=0.2)
            failed.extend(_here(e, scratch, n, monkeypatch, capsys)
                          for n, e in runs if _how(e) == "here")
        finally:
            code = host.stop()
        failed.append(None if code == 0 else f"the module's host exited {code}:\n{host.tail()}")
        failed.extend(_here(e, scratch, n, monkeypatch, capsys)
                      for n, e in runs if _how(e) == "restore")
        failed.extend(job.result() for job in jobs)
    problems = [f for f in failed if f]
    assert not problems, "\n".join(problems)
