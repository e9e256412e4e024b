"""The record kinds of the library's results-store calls, read from the source with ``ast`` and resolved in each
module's namespace: ``<...store...>.write(kind, ...)`` (and read, path, records, find_one, to_frame) and
``record_hash(kind, ...)``. tests/test_names.py checks that every one is a member of semirobust.names.RecordKind
(and that the reader flags one that is not); tests/test_pages.py that every page's kind is written."""
from __future__ import annotations

import ast
import importlib

from semirobust.names import RecordKind
from semirobust.utils import REPO_ROOT

#: the results-store methods that take a record kind first
STORE_CALLS = ("write", "read", "path", "records", "find_one", "to_frame")
#: modules that pass a kind through without naming one, and why that is safe
PASS_THROUGH = {
    "semirobust/results.py": "the store's own code (its kinds come from its callers)",
    "semirobust/pipeline/status.py": "the pages' kinds, RecordKind members by Page's own check",
}


def _resolve(node: ast.expr, namespace: dict):
    """The value of a constant, a name or an attribute chain (``RecordKind.TABLE1``) in ``namespace``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, namespace), node.attr)
    raise LookupError(type(node).__name__)


def store_kinds(source: str, namespace: dict, where: str, calls=STORE_CALLS) -> tuple[list, list[str]]:
    """The record kinds of the results-store ``calls`` in ``source`` (and of ``record_hash`` while ``calls`` holds
    "read"), resolved in the module's ``namespace``. Returns ``([(line, member) of each call naming a RecordKind
    member], [a problem for each call whose kind is not one: a plain string, or a name the reader cannot
    resolve])``, problems in line order."""
    found, problems = [], []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        if not ((isinstance(func, ast.Name) and func.id == "record_hash" and "read" in calls) or
                (isinstance(func, ast.Attribute) and func.attr in calls and "store" in ast.unparse(func.value).lower())):
            continue
        text = f"{where}:{node.lineno} {ast.unparse(node)[:80]}"
        try:
            kind = _resolve(node.args[0], namespace)
        except (LookupError, AttributeError):
            problems.append((node.lineno, f"{text}: kind not resolved (name it by a RecordKind member)"))
            continue
        if type(kind) is not RecordKind:
            problems.append((node.lineno, f"{text}: kind {kind!r} is not a semirobust.names.RecordKind member"))
        else:
            found.append((node.lineno, kind))
    return sorted(found), [text for _, text in sorted(problems)]


def library_store_kinds(calls=STORE_CALLS) -> tuple[list, list[str]]:
    """:func:`store_kinds` over every module of ``semirobust/`` but :data:`PASS_THROUGH`: ``([(module, line,
    member), ...], [problem, ...])``."""
    found, problems = [], []
    for path in sorted((REPO_ROOT / "semirobust").rglob("*.py")):
        where = path.relative_to(REPO_ROOT).as_posix()
        if "__pycache__" in path.parts or where in PASS_THROUGH:
            continue
        source = path.read_text(encoding="utf-8")
        if "store" not in source.lower() and "record_hash" not in source:
            continue
        module = importlib.import_module(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
        kinds, wrong = store_kinds(source, vars(module), where, calls)
        found += [(where, line, kind) for line, kind in kinds]
        problems += wrong
    return found, problems
