"""The repository's shape: library <- lab <- experiments <- notebooks, imports pointing one way.

`kd_utils` (the library) imports neither the lab nor the experiments, has no import cycles and
at most two floors (modules that import no other library module, and modules that import only
those), and stays thin; `kd_lab` never imports `kd_experiments`. Every import of every module
and notebook cell is parsed, relative ones resolved.
"""

import ast
import json
from pathlib import Path

import pytest
from helpers import REPO

LAYERS = ("kd_utils", "kd_lab", "kd_experiments")  # each may import only those before it
LIBRARY_MAX_LINES = 1700  # about 1,100 of them code: the ~1,500 target plus the losses as
# objects (five methods, the Keras adapter and boundary checks, ~450) and every input checked
# where the library receives it (~100); the names configs use (registries) and the
# experiments' datasets live in the lab and the experiments
MODULES = sorted(p for layer in LAYERS for p in (REPO / layer).glob("*.py"))
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def imported_modules(source: str, package: str = "") -> set[str]:
    """Every module `source` imports (and `module.name` for each name imported from one),
    relative imports resolved against `package`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = ("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    # IPython magics and shell lines are not Python
    return "\n".join("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                               for line in cell.split("\n")) for cell in code)


def layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def library_graph() -> dict[str, set[str]]:
    graph = {}
    # __init__ only re-exports the Distiller: it is the package's door, not a floor
    for path in (REPO / "kd_utils").glob("[!_]*.py"):
        imports = imported_modules(path.read_text(), "kd_utils")
        graph[path.stem] = {m.split(".")[1] for m in imports if m.startswith("kd_utils.")
                            and (REPO / "kd_utils" / f"{m.split('.')[1]}.py").exists()}
    return graph


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_imports_point_one_way(path):
    own = LAYERS.index(path.parent.name)
    later = {m for m in imported_modules(path.read_text(), path.parent.name)
             if (layer_of(m) or 0) > own}
    assert not later, f"{path.parent.name}/{path.name} imports {sorted(later)}: {LAYERS[own]} " \
                      f"may import only {LAYERS[:own] or 'nothing of ours'}"


def test_the_layer_check_sees_relative_and_late_imports():
    # The check above must be able to fail: a relative or in-function import of a later layer.
    source = "from . import sweep\ndef f():\n    from kd_experiments import hinton2015\n"
    found = imported_modules(source, "kd_utils")
    assert "kd_utils.sweep" in found and "kd_experiments.hinton2015" in found
    assert layer_of("kd_experiments.hinton2015") == 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_import_our_packages_only_through_their_public_modules(path):
    found = imported_modules(notebook_source(path))
    ours = {m for m in found if layer_of(m) is not None}
    assert ours, f"{path.name} imports nothing of the library or the lab"
    private = {m for m in ours if any(part.startswith("_") for part in m.split("."))}
    assert not private, f"{path.name} imports private names {sorted(private)}"


def test_the_library_has_no_cycles_and_two_floors():
    graph = library_graph()
    floors = {}

    def floor(module, seen=()):
        if module in seen:
            raise AssertionError(f"import cycle in kd_utils: {' -> '.join(seen + (module,))}")
        if module not in floors:
            floors[module] = 1 + max((floor(m, seen + (module,)) for m in graph[module]), default=0)
        return floors[module]

    for module in graph:
        floor(module)
    too_high = {m: f for m, f in floors.items() if f > 2}
    assert not too_high, f"kd_utils modules above the second import floor: {too_high}"


def test_the_library_is_thin():
    lines = sum(p.read_text().count("\n") for p in (REPO / "kd_utils").glob("*.py"))
    assert lines <= LIBRARY_MAX_LINES, f"kd_utils has {lines} lines (at most {LIBRARY_MAX_LINES})"


def test_the_library_knows_nothing_of_records_or_results():
    words = ("results/", "run_id", "RESULTS_DIR", "profile", "summary.csv")
    for path in (REPO / "kd_utils").glob("*.py"):
        text = path.read_text()
        found = [w for w in words if w in text]
        assert not found, f"kd_utils/{path.name} mentions {found}: that is the lab's business"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_module_says_what_it_holds(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} needs a docstring"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
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
    for layer, folder in (("kd_utils", "library"), ("kd_lab", "lab"), ("kd_experiments", "experiments")):
        tested = {p.stem.removeprefix("test_") for p in (REPO / "tests" / folder).glob("test_*.py")}
        # Covered through what wraps them: callbacks and distribute by the lab's runs (the
        # runner's and test_distribute), plots by the
        # experiments' figures, the readings block modules by test_readings.
        covered = {"__init__", "__main__", "callbacks", "distribute", "plots", "hinton2015_readme", "readings_hinton",
                   "readings_sweep", "readings_published", "readings_lab"}
        untested = {p.stem for p in (REPO / layer).glob("*.py")} - tested - covered
        assert not untested, f"no tests/{folder}/test_<module>.py for {sorted(untested)}"
