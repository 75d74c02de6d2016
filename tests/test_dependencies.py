"""Dependencies are declared and pinned (README, "Upgrading dependencies")."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    return [Requirement(line) for line in declared]


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt (run scripts/lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pins[name]}, outside {requirement}"
        )
        ceilings = [s for s in requirement.specifier if s.operator in ("<", "<=", "~=", "==")]
        assert ceilings, f"{requirement} has no upper bound"


def test_every_imported_library_is_declared() -> None:
    declared = {canonicalize_name(r.name) for r in _requirements()}
    distributions = packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "accounts_gql").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    for module in sorted(imported - set(sys.stdlib_module_names) - {"accounts_gql"}):
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert names & declared, f"accounts_gql imports {module} from {names}, not declared"
