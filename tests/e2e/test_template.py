"""The plugin template: ``zepix new-plugin`` output, and end to end in a fresh venv.

The end-to-end test installs zepix-core into a new virtual environment, then
the package its ``zepix new-plugin`` generates and the one docs/plugin-authoring.md
has the reader write by hand; runs their tests and ``pytest --zepix-plugin``
there, and asks that environment's ``zepix plugins`` whether the host
discovers both.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.distfactory import DistFactory
from tests.paths import ROOT
from zepix_core.authoring.conformance import CHECK_NAMES, run_suite
from zepix_core.cli.main import main

REPO = ROOT
GENERATED = [".gitignore", "README.md", "my_strategy/__init__.py", "my_strategy/plugin.py",
             "my_strategy/py.typed", "pyproject.toml", "tests/test_conformance.py",
             "tests/test_strategy.py"]


def generate(where: Path, *args: str) -> Path:
    assert main(["new-plugin", "my-strategy", "--dir", str(where), *args]) == 0
    return where / "my-strategy"


def test_new_plugin_names_everything_from_one_name(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = generate(tmp_path)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == GENERATED
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "my-strategy"
    assert project["dependencies"] == ["zepix-core>=1.0,<2"]
    assert project["entry-points"]["zepix.plugins"] == {"my_strategy": "my_strategy:MyStrategy"}
    assert not [f for f in files if "{{" in (root / f).read_text(encoding="utf-8")]
    assert 'plugin_id = "my_strategy"' in (root / "tests/test_conformance.py").read_text()
    assert '"requires_api": ">=1.0,<2"' in (root / "my_strategy/plugin.py").read_text()
    assert "python -m pytest --zepix-plugin my_strategy" in capsys.readouterr().out
    plugin = (root / "my_strategy/plugin.py").read_text()
    assert "def plugin_settings(self) -> list[SettingSpec]:" in plugin
    assert 'context.database.migrate("crossings", MIGRATIONS)' in plugin
    assert 'context.logger.info("activated", extra={' in plugin
    assert "__pycache__/" in (root / ".gitignore").read_text()


def test_new_plugin_takes_an_explicit_id(tmp_path: Path) -> None:
    root = generate(tmp_path, "--id", "cross_v1")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["zepix.plugins"] == {"cross_v1": "my_strategy:CrossV1"}


@pytest.mark.parametrize(("args", "message"), [
    (["my strategy"], "'my strategy' is not a valid distribution name"),
    (["9lives"], "package name '9lives', which Python cannot import"),
    (["ok-name", "--id", "Bad-Id"], "plugin id 'Bad-Id' is invalid"),
])
def test_new_plugin_refuses_bad_names_with_the_fix(tmp_path: Path, args: list[str],
                                                   message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    where = tmp_path / "src"
    assert main(["new-plugin", *args, "--dir", str(where)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zepix: error: ") and message in err and err.count("\n") == 1
    assert not where.exists()


def test_new_plugin_never_writes_over_a_project(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = generate(tmp_path)
    (root / "README.md").write_text("mine", encoding="utf-8")
    assert main(["new-plugin", "my-strategy", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not empty; choose another NAME or --dir" in (
        capsys.readouterr().err)
    assert (root / "README.md").read_text(encoding="utf-8") == "mine"


def test_generated_code_is_lint_clean(tmp_path: Path) -> None:
    root = generate(tmp_path)
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                          cwd=root, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- end to end ------------------------------------------------------------------

def _closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need at run time, transitively, zepix excluded."""
    todo, seen, found = list(names), set(), []
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen or name.startswith("zepix"):
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(dist)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def fresh_venv(root: Path) -> Path:
    """A new venv that also sees what zepix-core and pytest need, and the build tools
    (setuptools, wheel when installed), linked from this environment (so no network), and
    none of this environment's zepix packages."""
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(root)
    shared = root / "shared"
    shared.mkdir()
    needs = ["pytest", "setuptools", "wheel", *(metadata.requires("zepix-core") or [])]
    for dist in _closure(Requirement(n).name for n in needs):
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (shared / top).exists():
                (shared / top).symlink_to(source)
    site = next((root / "lib").glob("python3*/site-packages"))
    (site / "zz_shared.pth").write_text(f"{shared}\n", encoding="utf-8")
    return root / "bin" / "python"


def builds_wheels_here() -> bool:
    """Whether this environment's setuptools builds wheels by itself: from 70.1 it does,
    before that only with the ``wheel`` package installed."""
    try:
        setuptools = Version(metadata.version("setuptools"))
    except metadata.PackageNotFoundError:
        return False
    return setuptools >= Version("70.1") or importlib.util.find_spec("wheel") is not None


def pip_install(python: Path, *sources: Path) -> None:
    """``pip install --no-deps --no-build-isolation --no-index``: no network. Only when the
    setuptools here cannot build a wheel does pip build in isolation, with setuptools from
    the configured index."""
    isolation = ["--no-build-isolation", "--no-index"] if builds_wheels_here() else []
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-input", "-q", *isolation, *map(str, sources)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}{done.stderr}"


def zepix_core_source(dest: Path) -> Path:
    """A copy of zepix-core's source, so building it writes nothing into the repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "zepix_core", dest / "zepix_core", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    return dest


GUIDE = REPO / "docs" / "plugin-authoring.md"


def guide_files() -> dict[str, str]:
    """The files docs/plugin-authoring.md has the reader write, by path in zepix-hello/."""
    text = GUIDE.read_text(encoding="utf-8")
    files = dict(re.findall(r"^cat > (\S+) <<'EOF'\n(.*?)^EOF$", text, re.MULTILINE | re.DOTALL))
    example = re.search(r"in `zepix-hello/(\S+)`:\n\n```python\n(.*?)```", text, re.DOTALL)
    assert example, "the guide's example test is missing"
    files[example.group(1)] = example.group(2)
    return files


def test_the_guides_manual_plugin_passes_the_suite(tmp_path: Path, dists: DistFactory) -> None:
    files = guide_files()
    assert sorted(files) == ["pyproject.toml", "tests/test_conformance.py",
                             "tests/test_hello.py", "zepix_hello/__init__.py"]
    project = tomllib.loads(files["pyproject.toml"])["project"]
    entry_points = project["entry-points"]["zepix.plugins"]
    assert entry_points == {"hello": "zepix_hello:Hello"}
    dists.add(project["name"], project["version"], entry_points,
              {"zepix_hello": files["zepix_hello/__init__.py"]})
    results = run_suite("hello", tmp_path, paths=[str(dists.root)])
    assert {r.check: r.outcome for r in results} == dict.fromkeys(CHECK_NAMES, "passed")


@pytest.mark.slow
def test_template_and_guide_install_pass_the_suite_and_are_discovered(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    bin_dir = python.parent
    pip_install(python, zepix_core_source(tmp_path / "zepix-core"))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(ZEPIX_HOME=str(home), ZEPIX_DB=str(home / "zepix.db"))

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    made = run(str(bin_dir / "zepix"), "new-plugin", "my-strategy")  # the installed template
    assert made.returncode == 0, made.stderr
    template, hello = tmp_path / "my-strategy", tmp_path / "zepix-hello"
    for path, text in guide_files().items():
        (hello / path).parent.mkdir(parents=True, exist_ok=True)
        (hello / path).write_text(text, encoding="utf-8")
    pip_install(python, template, hello)

    tested = run(str(python), "-m", "pytest", "--zepix-plugin", "my_strategy", "-p",
                 "no:cacheprovider", "-q", cwd=template)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # 3 strategy tests and the suite once, though the project has it as a class too
    assert f"{3 + len(CHECK_NAMES)} passed" in tested.stdout
    assert f"{len(CHECK_NAMES)} deselected" in tested.stdout
    assert "public_api" in CHECK_NAMES
    tested = run(str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=hello)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert f"{len(CHECK_NAMES) + 1} passed" in tested.stdout  # the suite and the guide's test

    listed = run(str(bin_dir / "zepix"), "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    for plugin_id, dist in (("my_strategy", "my-strategy"), ("hello", "zepix-hello")):
        row = rows[plugin_id]
        assert (row["state"], row["distribution"], row["version"]) == (
            "ACTIVE", dist, "0.1.0"), row


def test_generated_plugin_passes_mypy_strict_with_the_public_reply_types(tmp_path: Path) -> None:
    """The template annotates its hooks with zepix_core's TypedDicts; mypy checks the replies."""
    root = generate(tmp_path)
    plugin = (root / "my_strategy/plugin.py").read_text(encoding="utf-8")
    assert "-> VersionInfo:" in plugin and "-> list[IntentReply] | None:" in plugin
    env = {**os.environ, "MYPYPATH": str(REPO)}
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-incremental", str(root / "my_strategy")],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert checked.returncode == 0, checked.stdout
    # A wrong reply is caught: a side that is not "buy" or "sell".
    (root / "my_strategy/plugin.py").write_text(
        plugin.replace('side: Literal["buy", "sell"] = "buy" if above else "sell"',
                       'side: Literal["buy", "sell"] = "buy" if above else "hold"'),
        encoding="utf-8")
    wrong = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-incremental", str(root / "my_strategy")],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert wrong.returncode == 1 and "hold" in wrong.stdout
