"""The layering rule that import-linter cannot see: no project imports inside functions (they hide an
upward import or a cycle), except in create_app/init_app, which wire the app together at start-up."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "flows", "handlers", "storage", "nlu")
ALLOWED = {"create_app", "init_app"}


def _imports_inside_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, function: str | None):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            inner = function or name
            if function and function not in ALLOWED and isinstance(child, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                if getattr(child, "level", 0) or any(m.split(".")[0] in PACKAGES for m in modules):
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno} in {function}()")
            visit(child, inner)

    visit(tree, None)
    return found


def test_no_project_imports_inside_functions():
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found += _imports_inside_functions(path)
    assert found == []
