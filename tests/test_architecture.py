"""The house rules of docs/architecture.md, checked: imports run one way and in no cycle
(import-linter, the contracts in pyproject.toml), one exception tree drawn whole, and no
module over 800 lines without a reason written down."""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import adoptwatch
from adoptwatch import errors
from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 800


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the ``adoptwatch`` package found first from ``root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_are_kept() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_layer_contract(tmp_path: Path) -> None:
    # A copy of the package in which storage imports the pipeline above it.
    ignore = shutil.ignore_patterns("__pycache__", "demo_site", "data")
    shutil.copytree(REPO / "adoptwatch", tmp_path / "adoptwatch", symlinks=True, ignore=ignore)
    for folder in ("flows", "storage", "extractors"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    store = tmp_path / "storage" / "store.py"
    store.write_text(store.read_text() + "\nimport adoptwatch.pipeline.rows  # noqa\n")

    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Dependencies run one way" in done.stdout and "BROKEN" in done.stdout
    assert "adoptwatch.storage.store -> adoptwatch.pipeline.rows" in done.stdout


def _all_modules() -> list[str]:
    names = [adoptwatch.__name__]
    for info in pkgutil.walk_packages(adoptwatch.__path__, prefix="adoptwatch."):
        names.append(info.name)
    return names


def test_the_error_tree_is_drawn_whole_in_one_docstring() -> None:
    for name in _all_modules():
        importlib.import_module(name)

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    defined = {cls.__name__ for cls in subclasses(errors.AdoptwatchError)}
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    assert defined == drawn, f"not drawn: {defined - drawn}; drawn, not defined: {drawn - defined}"


def test_no_module_is_over_800_lines_without_a_reason() -> None:
    reasons = (REPO / "docs" / "architecture.md").read_text()
    long = []
    for folder in ("adoptwatch", "flows", "storage", "extractors"):
        for path in (REPO / folder).rglob("*.py"):
            relative = path.relative_to(REPO)
            if relative.parts[1] in ("flows", "storage", "extractors"):
                continue  # adoptwatch/<link>: the same files as the top-level folders
            if len(path.read_text().splitlines()) > MAX_LINES:
                long.append(relative.as_posix())
    section = reasons.split("## Long modules", 1)[1]
    # Each reason is a bullet: "- `path`, `path`: why."
    listed = {
        path
        for line in section.splitlines()
        if line.startswith("- ")
        for path in re.findall(r"`([\w/]+\.py)`", line.split(": ", 1)[0])
    }
    assert set(long) <= listed, f"over {MAX_LINES} lines, no reason: {set(long) - listed}"
    assert listed <= set(long), f"listed as long, yet short: {listed - set(long)}"
