"""Nothing a plugin starts outlives ``zepix run``: a fork in a hook ends when it
returns into host code, an in-process plugin's child processes (and their orphans)
are ended at shutdown and logged, and a worker's children die with its process group.
Real processes; each plugin writes the pids it started to a file the test reads."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from tests.hostileproc import hostile, zepix
from tests.waiting import wait_for, wait_until

pytestmark = pytest.mark.slow


def pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_fork_in_a_hook_ends_when_it_returns_into_host_code(tmp_path: Path) -> None:
    root, home, record = tmp_path / "dists", tmp_path / "home", tmp_path / "forks"
    hostile(root, "forker", f'''
    @hookimpl
    def on_bar(self, bar):
        self.bars += 1
        if self.bars == 1:
            pid = os.fork()
            if pid == 0:
                with open({str(record)!r}, "a") as f:
                    f.write(f"{{os.getpid()}}\\n")
                time.sleep(1)  # then return into the host's dispatch thread
        return None
''', prelude="import os, time")
    done = zepix(home, root, "run", "--duration", "4", "--interval", "1")
    assert done.returncode == 0, done.stderr
    [child] = pids(record)
    # The child came back from the hook; it did not live on as a copy of the host.
    assert wait_until(lambda: gone(child), timeout=30)


def test_an_in_process_plugins_children_and_their_orphans_end_with_the_host(
        tmp_path: Path) -> None:
    root, home, record = tmp_path / "dists", tmp_path / "home", tmp_path / "children"
    hostile(root, "spawner", f'''
    @hookimpl
    def activate(self, context, config):
        child = subprocess.Popen(["sleep", "300"])
        # A grandchild whose parent exits at once: an orphan the host must find too.
        subprocess.run(["sh", "-c", "sleep 301 & echo $! >> {record}"], check=True)
        with open({str(record)!r}, "a") as f:
            f.write(f"{{child.pid}}\\n")
''', prelude="import subprocess")
    done = zepix(home, root, "run", "--once")
    assert done.returncode == 0, done.stderr
    started = pids(record)
    assert len(started) == 2
    assert all(wait_until(lambda p=p: gone(p), timeout=30) for p in started)
    assert "ended child processes plugins left" in done.stderr
    assert "sleep 300" in done.stderr and "sleep 301" in done.stderr


def test_a_workers_children_die_with_its_process_group(tmp_path: Path) -> None:
    root, home, record = tmp_path / "dists", tmp_path / "home", tmp_path / "children"
    hostile(root, "isolated", f'''
    @hookimpl
    def activate(self, context, config):
        child = subprocess.Popen(["sleep", "302"])
        with open({str(record)!r}, "a") as f:
            f.write(f"{{os.getpgid(child.pid) == os.getpid()}} {{child.pid}}\\n")
''', prelude="import os, subprocess")
    home.mkdir()
    (home / "zepix.toml").write_text('[plugins.isolated]\nisolation = "process"\n')
    done = zepix(home, root, "run", "--once")
    assert done.returncode == 0, done.stderr
    leader, child = record.read_text().split()
    assert leader == "True"  # the worker leads its own process group
    assert wait_for(lambda: gone(int(child)), timeout=30), \
        f"the worker's child {child} outlived it"
    assert os.getpid()  # the test process itself is untouched


def test_a_fork_at_import_ends_when_the_import_returns_into_host_code(tmp_path: Path) -> None:
    root, home, record = tmp_path / "dists", tmp_path / "home", tmp_path / "forks"
    hostile(root, "importfork", "", prelude=f'''
import os, time
if os.fork() == 0:
    with open({str(record)!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    time.sleep(1)  # then go on with the import: back into discovery
''')
    done = zepix(home, root, "plugins")
    assert done.returncode == 0, done.stderr
    [child] = pids(record)
    assert wait_until(lambda: gone(child), timeout=30)
    # Only the host listed the plugins: the copy did not run the command again.
    assert done.stdout.count("DISTRIBUTION") == 1, done.stdout
