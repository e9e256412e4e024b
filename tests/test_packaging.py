"""Packaging: pyproject.toml holds the one dependency list; constraints.txt pins it; environment.yml installs it."""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import urllib.request

import pytest
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


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt line {line!r} is not an exact pin"
            pins[_normalize(name)] = version
    return pins


def test_pyproject_declares_the_package():
    project = PYPROJECT["project"]
    assert project["name"] == "semirobust"
    assert project["dependencies"], "pyproject.toml lists no dependencies"
    assert {"book", "test"} <= set(project["optional-dependencies"])
    assert importlib.metadata.version("semirobust") == project["version"] == semirobust.__version__


def test_environment_installs_the_project_with_its_extras_only():
    """One dependency list: environment.yml installs the package and its extras, listing nothing itself."""
    assert _pip_section() == ["-c constraints.txt", "-e .[book,test]"]


def test_constraints_pin_every_declared_dependency():
    project = PYPROJECT["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    pins = _constraints()
    names = {_normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r).group(0)) for r in declared}
    missing = sorted(names - set(pins))
    assert not missing, f"constraints.txt pins none of {missing}; regenerate it (see its header)"
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"


def test_installed_versions_match_constraints():
    """The environment the tests run in is the one constraints.txt describes."""
    for name, version in _constraints().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # platform-specific pins (e.g. CUDA libraries) need not be installed everywhere
        assert installed == version, f"{name} {installed} installed, constraints.txt pins {version}"


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


def test_ruff_is_clean():
    """The lint configuration in pyproject.toml holds for the whole tree."""
    import subprocess
    import sys
    from pathlib import Path

    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--output-format", "concise", str(REPO_ROOT)], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_module_declares_its_exports_and_they_exist():
    import importlib
    import pkgutil

    import semirobust

    missing, broken = [], []
    for info in pkgutil.walk_packages(semirobust.__path__, "semirobust."):
        if info.ispkg:
            continue
        module = importlib.import_module(info.name)
        if not hasattr(module, "__all__"):
            missing.append(info.name)
        else:
            broken += [f"{info.name}.{n}" for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"modules without __all__: {missing}"
    assert not broken, f"__all__ names that do not exist: {broken}"


def test_exports_do_not_change_the_training_cache_key(tmp_path, monkeypatch):
    from semirobust.utils import source_fingerprint

    package = tmp_path / "expkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = source_fingerprint("expkg.mod")
    (package / "mod.py").write_text("def f():\n    return 1\n\n\n__all__ = ['f']\n")
    assert source_fingerprint("expkg.mod") == before


def _index_reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=15):
            return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_plain_install_resolves_without_the_constraints_file(tmp_path):
    """What a new user types, `pip install -e ".[book,test]"` in a fresh venv with the pip that ``venv``
    bundles (23.2 with Python 3.11), without ``-c constraints.txt``: pip's resolver must find a set of
    versions (a dry run: nothing is installed). It once backtracked through every papermill release down
    to one whose sdist does not build; the lower bounds in pyproject.toml stop that."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/papermill/"
    if not _index_reachable(index):
        pytest.skip(f"package index unreachable ({index}): the plain resolve needs it")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = venv / "bin" / "pip"
    version = subprocess.run([str(pip), "--version"], capture_output=True, text=True, check=True).stdout
    result = subprocess.run([str(pip), "install", "--dry-run", "--no-input", "-e", f"{REPO_ROOT}[book,test]"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"{version.strip()}: the plain install does not resolve:\n{log[-4000:]}"
    assert "Would install" in log and "semirobust" in log
