"""The rooms keep their rules: what each package may import (read from the source, not run).

domain <- adapters <- services <- entry points; the demo data is for the CLI's seed command and
the demo portal page only; actions are adapters over services and never touch the store.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> prefixes its modules must not import
FORBIDDEN = {
    "autofinance/domain": ("autofinance.adapters", "autofinance.services", "autofinance.entrypoints",
                           "autofinance.demo", "autofinance.config", "autofinance.bootstrap",
                           "sqlalchemy", "aiohttp", "rasa", "rasa_sdk", "actions"),
    "autofinance/adapters": ("autofinance.services", "autofinance.entrypoints", "autofinance.demo",
                             "autofinance.bootstrap", "rasa", "rasa_sdk", "actions"),
    "autofinance/services": ("autofinance.entrypoints", "autofinance.demo", "autofinance.bootstrap",
                             "aiohttp", "rasa", "rasa_sdk", "actions"),
    "autofinance/demo": ("autofinance.entrypoints", "rasa", "rasa_sdk", "actions"),
    "autofinance/entrypoints": ("rasa", "rasa_sdk", "actions"),
    "actions": ("autofinance.adapters.store", "autofinance.demo", "autofinance.entrypoints",
                "sqlalchemy"),
    "rasa_ext": ("autofinance", "actions"),
}
# Who may use the demo data besides its own package: the seed command and the demo portal page.
DEMO_IMPORTERS = {"autofinance/entrypoints/cli.py", "autofinance/entrypoints/web/portal.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (function-level imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for module in imported_modules(path):
            if any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_what_its_room_allows(package: str) -> None:
    assert _violations(package, FORBIDDEN[package]) == []


def test_only_the_seed_command_and_the_demo_page_use_the_demo_data() -> None:
    users = {
        str(path.relative_to(ROOT))
        for folder in ("autofinance", "actions", "rasa_ext")
        for path in (ROOT / folder).rglob("*.py")
        if not path.is_relative_to(ROOT / "autofinance" / "demo")
        and any(m.startswith("autofinance.demo") for m in imported_modules(path))
    }
    assert users == DEMO_IMPORTERS


def test_every_package_says_what_may_import_it() -> None:
    for package in ("domain", "adapters", "services", "entrypoints", "demo"):
        docstring = ast.get_docstring(ast.parse((ROOT / "autofinance" / package / "__init__.py").read_text()))
        assert docstring and "import" in docstring, package


def test_the_rule_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from autofinance.demo.seed import DEMO_CUSTOMERS\n")
    assert "autofinance.demo.seed" in imported_modules(module)
