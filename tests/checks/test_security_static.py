"""The static security check (ruff's flake8-bandit ``S`` rules) runs over zepix_core
with the project's own configuration, and every suppression says why."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT

RUFF = Path(sys.executable).with_name("ruff")

PROBE = '''import subprocess


def run(cmd: str) -> None:
    subprocess.call(cmd, shell=True)
'''


def _ruff_on(text: str, filename: str) -> str:
    done = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise",
         "--stdin-filename", filename, "-"],
        input=text, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    return done.stdout + done.stderr


def test_project_ruff_config_flags_a_shell_call_in_core() -> None:
    out = _ruff_on(PROBE, "zepix_core/_probe.py")
    assert "S602" in out, out


def test_every_security_suppression_in_core_is_justified() -> None:
    unjustified = []
    for path in sorted((ROOT / "zepix_core").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            for code in re.findall(r"noqa: (S\d+)", line):
                above = lines[n - 1] if n else ""
                here_why = re.search(rf"noqa: {code} - \S", line)
                if not (here_why or re.search(rf"# {code}: \S", above)):
                    unjustified.append(f"{path.relative_to(ROOT)}:{n + 1}")
    assert not unjustified, unjustified


def test_every_test_docs_security_names_exists() -> None:
    """docs/security.md backs each promise with a test; each one it names is real."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    cited = re.findall(r"\[(test_\w+)(?::\s*(test_\w+))?\]", " ".join(text.split()))
    assert len(cited) >= 6
    for module, function in cited:
        found = sorted((ROOT / "tests").rglob(f"{module}.py"))
        assert found, f"docs/security.md cites {module}, which is no test file"
        source = found[0].read_text(encoding="utf-8")
        assert not function or f"def {function}(" in source, (module, function)
