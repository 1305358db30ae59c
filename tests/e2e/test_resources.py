"""ResourceSampler against real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from tests.waiting import wait_until
from zepix_core.health.resources import ResourceSampler

pytestmark = pytest.mark.slow     # real child processes

MB = 2**20

IDLE = "import sys; print('ready', flush=True); sys.stdin.read()"
ALLOCATE = (
    "import sys; data = b'\\x01' * (120 * 2**20); "
    "print('ready', flush=True); sys.stdin.read()"
)
BUSY = "print('ready', flush=True)\nwhile True: pass"


def spawn(code: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()




def test_rss_of_a_child_that_allocates_memory(children: list[subprocess.Popen[str]]) -> None:
    idle = spawn(IDLE)
    fat = spawn(ALLOCATE)
    children += [idle, fat]
    sampler = ResourceSampler()
    small, big = sampler.sample(idle.pid), sampler.sample(fat.pid)
    assert small.running and big.running
    assert small.rss_bytes is not None and big.rss_bytes is not None
    assert big.rss_bytes - small.rss_bytes > 100 * MB
    assert big.threads is not None and big.threads >= 1
    assert big.fds is not None and big.fds >= 3       # stdin, stdout, stderr at least
    assert big.scope == "process" and big.attributable


def test_cpu_is_unknown_on_the_first_sample_then_measured_on_the_same_process(
    children: list[subprocess.Popen[str]],
) -> None:
    busy = spawn(BUSY)
    children.append(busy)
    sampler = ResourceSampler()
    first = sampler.sample(busy.pid)
    assert first.running and first.cpu_percent is None
    # A busy loop shows CPU use once it has run a while. On a loaded 2-core machine it may
    # get a few per cent of a core per interval, so the bar is "clearly running", checked
    # against the kernel's own count of the CPU time it used.
    before = sum(psutil.Process(busy.pid).cpu_times()[:2])
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and max(seen, default=0.0) <= 2.0:
        time.sleep(0.5)
        cpu = sampler.sample(busy.pid).cpu_percent
        assert cpu is not None  # measured on every later sample of the same process
        seen.append(cpu)
    assert max(seen) > 2.0, seen
    assert sum(psutil.Process(busy.pid).cpu_times()[:2]) > before


def test_a_zombie_child_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE,
                   waiting_for="the child to exit")  # exited, not reaped: we hold the Popen
        sample = ResourceSampler().sample(child.pid)
        assert not sample.running
        assert "zombie" in sample.detail
        assert sample.rss_bytes is None and sample.cpu_percent is None
    finally:
        child.wait()


def test_a_sampled_process_that_dies_becomes_not_running(
    children: list[subprocess.Popen[str]],
) -> None:
    child = spawn(IDLE)
    children.append(child)
    sampler = ResourceSampler()
    assert sampler.sample(child.pid).running
    child.kill()
    child.wait()
    sample = sampler.sample(child.pid)
    assert not sample.running
    assert sample.detail == "no such process"


def test_a_dead_pid_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    sample = ResourceSampler().sample(child.pid)
    assert not sample.running
    assert (sample.rss_bytes, sample.threads, sample.fds) == (None, None, None)


def test_host_sample_says_it_is_not_attributable_to_a_plugin() -> None:
    sample = ResourceSampler().sample_host()
    assert sample.pid == os.getpid()
    assert sample.running and sample.scope == "host"
    assert not sample.attributable
    assert "not attributable" in sample.note
