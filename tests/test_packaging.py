"""Packaging: pyproject.toml declares the package; environment.yml is its conda form and agrees."""
from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib

import yaml

import semirobust
from semirobust.utils import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
ENVIRONMENT = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def _normalize(requirement: str) -> str:
    """Requirement text without spaces, with the project name in PEP 503 normal form."""
    text = re.sub(r"\s+", "", requirement)
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", text).group(0)
    return re.sub(r"[-_.]+", "-", name).lower() + text[len(name):]


def _pip_section() -> list[str]:
    sections = [item["pip"] for item in ENVIRONMENT["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, "environment.yml must have exactly one pip: section"
    return sections[0]


def test_pyproject_declares_the_package():
    project = PYPROJECT["project"]
    assert project["name"] == "semirobust"
    assert project["dependencies"], "pyproject.toml lists no dependencies"
    assert {"book", "test"} <= set(project["optional-dependencies"])
    assert importlib.metadata.version("semirobust") == project["version"] == semirobust.__version__


def test_environment_pip_list_matches_pyproject():
    project = PYPROJECT["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    pip = _pip_section()
    assert pip.count("-e .") == 1, "environment.yml must install the project itself with '-e .'"
    listed = [_normalize(r) for r in pip if r != "-e ."]
    expected = [_normalize(r) for r in declared]
    assert len(listed) == len(set(listed)), "environment.yml lists a requirement twice"
    assert set(listed) == set(expected), (
        f"only in environment.yml: {sorted(set(listed) - set(expected))}; "
        f"only in pyproject.toml: {sorted(set(expected) - set(listed))}"
    )


def test_environment_python_satisfies_requires_python():
    pythons = [d for d in ENVIRONMENT["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pythons) == 1
    env_version = tuple(int(p) for p in pythons[0].split("=")[-1].split(".")[:2])
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum, "requires-python is expected in the form '>=X.Y'"
    assert env_version >= (int(minimum.group(1)), int(minimum.group(2)))


def test_console_script_entry_point_resolves():
    for name, target in PYPROJECT["project"].get("scripts", {}).items():
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attr)), f"script {name!r} -> {target} is not callable"


def test_public_api_is_importable():
    for name in semirobust.__all__:
        assert hasattr(semirobust, name), name
