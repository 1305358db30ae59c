"""The public surface for plugin authors, and the old import paths that keep working for now."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import zepix_core
import zepix_core.testing
from tests.paths import ROOT

REPO = ROOT
PRIVATE_IMPORT = re.compile(r"^\s*(from|import)\s+zepix_core(\.[a-z]\w*)*\.(_\w+|contract|loading|"
                            r"execution|health|alerts|supervision|versions|storage|host|cli|"
                            r"authoring|market)\b", re.MULTILINE)


def _author_facing_files() -> list[Path]:
    files = [*REPO.glob("plugins/*/zepix_*/**/*.py"), *REPO.glob("plugins/*/tests/*.py"),
             *REPO.glob("zepix_core/authoring/template/**/*.tmpl"),
             REPO / "docs/plugin-authoring.md", REPO / "docs/hooks.md"]
    return [f for f in files if f.is_file()]


def test_bundled_plugins_template_and_author_docs_import_only_public_names() -> None:
    offenders = [f"{path.relative_to(REPO)}: {m.group(0).strip()}"
                 for path in _author_facing_files()
                 for m in PRIVATE_IMPORT.finditer(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_everything_in_all_exists() -> None:
    for module in (zepix_core, zepix_core.testing):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], module.__name__


def test_the_reply_types_are_typed_dicts_with_the_contract_keys() -> None:
    assert zepix_core.VersionInfo.__required_keys__ == {"version"}
    assert {"requires_api", "requires", "features"} <= zepix_core.VersionInfo.__optional_keys__
    assert zepix_core.HealthReply.__required_keys__ == {"ok"}
    assert zepix_core.SelfTestReply.__required_keys__ == {"passed"}
    assert zepix_core.IntentReply.__required_keys__ == {"symbol", "side", "quantity"}


def test_names_that_left_the_package_root_warn_but_work() -> None:
    with pytest.warns(DeprecationWarning, match="goes away in 1.2"):
        spec = zepix_core.hookspec
    from zepix_core.contract.hookspecs import hookspec

    assert spec is hookspec
    with pytest.raises(AttributeError):
        _ = zepix_core.no_such_name  # type: ignore[attr-defined]


@pytest.mark.parametrize("old,new", [("zepix_core.hookdoc", "zepix_core.authoring.hookdoc"),
                                     ("zepix_core.pytest_plugin",
                                      "zepix_core.authoring.pytest_plugin")])
def test_moved_public_modules_warn_once_imported(old: str, new: str) -> None:
    code = (f"import warnings, importlib; warnings.simplefilter('error');\n"
            f"try:\n    importlib.import_module({old!r})\n"
            f"except DeprecationWarning as w:\n    print(w)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert new in done.stdout


def test_the_test_helpers_come_from_one_public_module() -> None:
    bar = zepix_core.testing.make_bar(101.0, open=100.0)
    assert (bar.low, bar.high, bar.close) == (100.0, 101.0, 101.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        replay = zepix_core.testing.MarketReplay(seed=1)
        assert next(iter(replay))
