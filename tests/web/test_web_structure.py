"""The web package's shape: no import circle, no import hidden in a function, no store access
but through services, every route named and listed in the one table of `routes.py`."""
from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from autofinance.config import Settings
from autofinance.entrypoints.web import routes
from autofinance.entrypoints.web.app import create_app

PACKAGE = "autofinance.entrypoints.web"
ROOT = Path(routes.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _with_packages(name: str) -> list[str]:
    """A module and the web packages an import of it runs first."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(len(PACKAGE.split(".")), len(parts) + 1)]


def _web_imports(tree: ast.Module) -> set[str]:
    """The web modules (and their packages) a module imports."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                       else node.module for alias in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES:
                found.update(_with_packages(target))
    return found


def test_the_web_modules_import_one_another_without_a_circle() -> None:
    graph = {name: _web_imports(ast.parse(path.read_text())) - {name}
             for name, path in MODULES.items()}

    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as circle:
        pytest.fail(f"import circle: {' -> '.join(circle.args[1])}")
    assert f"{PACKAGE}.keys" in order and f"{PACKAGE}.console.feed" in order


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_web_module_imports_inside_a_function(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    top_level = {id(node) for node in tree.body}
    hidden = [node.lineno for node in ast.walk(tree)
              if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top_level]
    assert hidden == [], f"{name} imports at lines {hidden}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_web_modules_read_the_store_only_through_services(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not {module for module in imported
                if module.startswith(("sqlalchemy", "autofinance.adapters.store"))}


def test_each_web_module_imports_first_in_a_fresh_interpreter() -> None:
    """A circle shows as a half-initialised module only in some orders: start from each one."""
    script = (
        "import importlib, sys\n"
        f"for name in {sorted(MODULES)!r}:\n"
        f"    for loaded in [m for m in sys.modules if m.startswith({PACKAGE!r})]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_every_route_is_named_and_comes_from_the_table() -> None:
    app = create_app(Settings(demo_mode=True))
    table = {definition.kwargs["name"] for definition in [*routes.ROUTES, *routes.DEMO_ROUTES]}

    unnamed = [f"{route.method} {route.resource}" for route in app.router.routes() if not route.name]
    assert unnamed == []
    assert {resource.name for resource in app.router.resources()} == table
