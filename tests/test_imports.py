"""The import graph carries the layering: no module in analytics/ or collectors/ imports a
project module inside a function (the trick that hides an import cycle or a layering slip).
A third-party import inside a function (an optional or slow dependency) must say why in a
comment on its line or the line above."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("analytics", "collectors")
PROJECT = (
    {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    | {p.stem for p in ROOT.glob("*.py")}
    | {"pages"}
)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_in_functions(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(
                child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            )

    visit(tree, False)
    return found


def _modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return ["." if node.level else (node.module or "")]
    return [alias.name for alias in node.names]


def function_level_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line module (why)`` for each function-level import the rule refuses."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    problems = []
    for node in _imports_in_functions(ast.parse(source)):
        for module in _modules(node):
            where = f"{path.relative_to(root)}:{node.lineno} {module}"
            if module == "." or module.split(".")[0] in PROJECT:
                problems.append(f"{where} (a project module: import it at the top)")
            elif not any("#" in lines[i] for i in (node.lineno - 1, node.lineno - 2) if 0 <= i < len(lines)):
                problems.append(
                    f"{where} (a third-party import inside a function needs a comment saying why)"
                )
    return problems


def test_no_function_level_imports_of_project_modules() -> None:
    problems = [
        p for d in CHECKED for path in sorted((ROOT / d).rglob("*.py")) for p in function_level_imports(path)
    ]
    assert problems == []


def test_the_check_sees_what_it_refuses(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from analytics.costs import MODELS\n"
        "def f():\n    from analytics.costs import MODELS\n    import numpy\n"
        "    # optional: only the bench needs it\n    import scipy\n"
        "    from . import sibling\n"
    )
    assert function_level_imports(module, tmp_path) == [
        "m.py:5 analytics.costs (a project module: import it at the top)",
        "m.py:6 numpy (a third-party import inside a function needs a comment saying why)",
        "m.py:9 . (a project module: import it at the top)",
    ]
