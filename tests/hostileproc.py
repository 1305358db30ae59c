"""Hostile plugin distributions registered on a path (``DistFactory``) and real
``zepix`` processes that discover them through ``PYTHONPATH``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.distfactory import DistFactory, good_plugin


def hostile(root: Path, plugin_id: str, body: str, *, isolation: str | None = None,
            prelude: str = "") -> None:
    """A distribution ``zepix-<plugin_id>`` whose ``Plugin`` is the conforming test plugin
    with ``body`` (indented methods, e.g. an ``on_bar``) added; ``prelude`` runs at import."""
    module = f"rp_{plugin_id}"
    source = (good_plugin(class_name="Good") + "\n" + prelude + "\n\nclass Plugin(Good):\n"
              + (body or "    pass\n"))
    DistFactory(root).add(f"zepix-{plugin_id}", "1.0.0", {plugin_id: f"{module}:Plugin"},
                          {module: source})


def env(home: Path, root: Path, **extra: str) -> dict[str, str]:
    return {"ZEPIX_HOME": str(home), "ZEPIX_DB": str(home / "zepix.db"),
            "PATH": os.environ.get("PATH", "/usr/bin"), "PYTHONPATH": str(root),
            "ZEPIX_HTTP_LISTEN": "127.0.0.1:0", **extra}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "zepix_core.cli.main", *args]


def zepix(home: Path, root: Path, *args: str, timeout: float = 120
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), env=env(home, root), capture_output=True, text=True,
                          timeout=timeout, check=False)


#: ``zepix`` as a terminal starts it: SIGINT raises KeyboardInterrupt. A pytest-xdist
#: worker ignores SIGINT, and an ignored signal stays ignored across exec, so a child
#: started from it would not hear Ctrl-C at all (as under ``nohup``).
AS_FROM_A_TERMINAL = ("import runpy, signal, sys; "
                      "signal.signal(signal.SIGINT, signal.default_int_handler); "
                      "sys.argv[0] = 'zepix'; "
                      "runpy.run_module('zepix_core.cli.main', run_name='__main__')")


def start(home: Path, root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", AS_FROM_A_TERMINAL, *args],
                            env=env(home, root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
