"""The library's shape: a thin core that never imports the experiments, small documented modules,
tests that mirror the modules, and no module reaching into another's private names."""

import ast

import pytest
from helpers import REPO

PACKAGE = REPO / "kd_utils"
CORE = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__main__.py")
REPRODUCTIONS = sorted((PACKAGE / "reproductions").glob("*.py"))
MAX_LINES = 300


def imported_modules(path) -> set[str]:
    """Every module `path` imports, relative imports resolved against the kd_utils package."""
    tree = ast.parse(path.read_text())
    package = ["kd_utils"] + ([path.parent.name] if path.parent.name != "kd_utils" else [])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", CORE + [PACKAGE / "__main__.py"], ids=lambda p: p.name)
def test_the_core_never_imports_the_reproductions(path):
    offending = {m for m in imported_modules(path) if m.startswith("kd_utils.reproductions")}
    assert not offending, f"{path.name} imports {sorted(offending)}: the core must not"


def test_the_import_check_sees_relative_imports(tmp_path):
    # The check above must be able to fail: a relative import of the experiments is caught.
    fake = tmp_path / "kd_utils" / "fake.py"
    fake.parent.mkdir()
    fake.write_text("from .reproductions import hinton2015\nfrom . import reproductions\n")
    assert {"kd_utils.reproductions", "kd_utils.reproductions.hinton2015"} <= imported_modules(fake)


@pytest.mark.parametrize("path", CORE + REPRODUCTIONS + [PACKAGE / "__main__.py"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_module_is_small_and_says_what_it_holds(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines (at most {MAX_LINES}): split it"
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} needs a docstring"


@pytest.mark.parametrize("path", CORE + REPRODUCTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_module_uses_another_modules_private_names(path):
    tree = ast.parse(path.read_text())
    own = {node.name for node in ast.walk(tree)
           if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    reaching = [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.value.id not in ("self", "cls", "super") and node.attr not in own]
    imported = [f"{node.module}.{alias.name}" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) for alias in node.names
                if alias.name.startswith("_")]
    assert not reaching + imported, f"{path.name} uses private names of other modules"


def test_tests_mirror_the_modules():
    tested = {p.stem.removeprefix("test_") for p in (REPO / "tests" / "core").glob("test_*.py")}
    # Covered through the module that wraps them: idx by test_data, checks by test_distiller,
    # callbacks by test_runner, plots by the figure tests of the experiments.
    covered_elsewhere = {"idx", "checks", "callbacks", "plots"}
    untested = {p.stem for p in CORE} - tested - covered_elsewhere - {"__init__"}
    assert not untested, f"no tests/core/test_<module>.py for {sorted(untested)}"
    repro_tested = {p.stem.removeprefix("test_")
                    for p in (REPO / "tests" / "reproductions").glob("test_*.py")}
    # The block modules are run, every block of them, by test_readings.
    blocks = {"readings_hinton", "readings_sweep", "readings_published", "readings_lab"}
    untested = ({p.stem for p in REPRODUCTIONS} - repro_tested - blocks
                - {"__init__", "hinton2015_readme"})
    assert not untested, f"no tests/reproductions/test_<module>.py for {sorted(untested)}"
