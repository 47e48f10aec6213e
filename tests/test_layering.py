"""Imports go workers → app, never back: app/ is importable without the process entry points."""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value)


def test_nothing_in_app_imports_workers():
    offenders = [f"{path.relative_to(APP.parent)}: {name}"
                 for path in sorted(APP.rglob("*.py"))
                 for name in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
                 if name == "workers" or name.startswith("workers.")]
    assert not offenders, offenders
