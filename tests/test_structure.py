"""The library's layout rules (docs/adding_a_page.md, the developers' guide), read from the source with ``ast``:
no module over 500 lines, the core never imports ``experiments`` or ``pipeline`` (anywhere in a module, not only at
the top), ``experiments`` never imports ``pipeline``, and no private (underscored) name is imported from another
semirobust module."""
from __future__ import annotations

import ast

import pytest

from semirobust.utils import REPO_ROOT

PACKAGE = REPO_ROOT / "semirobust"
MAX_LINES = 500
#: modules over the limit today, each being split under issue 32 by another change; the list may only shrink
#: (a module listed here that is back under the limit fails the test until it leaves the list).
OVER_THE_LIMIT = {
}


def _modules() -> list:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path) -> str:
    """``semirobust/experiments/table1/algorithm1.py`` -> ``semirobust.experiments.table1.algorithm1``."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path) -> list[tuple[str, list[str], int]]:
    """Every import in the module, at any depth: ``(module imported from, names, line)`` (``names`` empty for a
    plain ``import x``); relative imports are resolved against the module's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((base, [alias.name for alias in node.names], node.lineno))
    return found


def _is_core(name: str) -> bool:
    return not name.startswith(("semirobust.experiments", "semirobust.pipeline"))


def _targets(module: str, names: list[str]) -> list[str]:
    """The modules an import statement reaches: the module, and for ``from package import module`` the module."""
    return [module, *(f"{module}.{n}" for n in names)]


def test_no_library_module_is_over_500_lines():
    lines = {p.relative_to(REPO_ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()}
    over = {path: n for path, n in lines.items() if n > MAX_LINES and path not in OVER_THE_LIMIT}
    assert not over, f"modules over {MAX_LINES} lines (split them by concern): {over}"
    back_under = [path for path in OVER_THE_LIMIT if lines.get(path, 0) <= MAX_LINES]
    assert not back_under, f"no longer over {MAX_LINES} lines (or gone): remove from OVER_THE_LIMIT: {back_under}"


@pytest.mark.parametrize("layer, forbidden", [("core", ("semirobust.experiments", "semirobust.pipeline")),
                                               ("semirobust.experiments", ("semirobust.pipeline",))])
def test_layers_import_only_downwards(layer, forbidden):
    wrong = []
    for path in _modules():
        name = _name(path)
        if not (_is_core(name) if layer == "core" else name.startswith(layer)):
            continue
        for module, names, line in _imports(path):
            if any(t == f or t.startswith(f + ".") for t in _targets(module, names) for f in forbidden):
                wrong.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module} {names or ''}".rstrip())
    assert not wrong, f"{layer} must not import {', '.join(forbidden)}:\n" + "\n".join(wrong)


def test_no_private_name_is_imported_from_another_module():
    wrong = []
    for path in _modules():
        name = _name(path)
        for module, names, line in _imports(path):
            if not module.startswith("semirobust") or module == name:
                continue
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private:
                wrong.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {private} from {module}")
    assert not wrong, "private names imported across modules (make them public or move them):\n" + "\n".join(wrong)


def test_the_checks_see_a_forbidden_import(tmp_path):
    """The import reader finds an import nested in a function and a private name, so the tests above can fail."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from semirobust.pipeline.sweep import _spec\n    import semirobust.experiments\n")
    found = _imports(module)
    assert ("semirobust.pipeline.sweep", ["_spec"], 2) in found
    assert ("semirobust.experiments", [], 3) in found
