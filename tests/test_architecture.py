"""The house's shape (docs/ARCHITECTURE.md): the layers as folders, what each may import, no
import circle, and no script that edits sys.path to find the project."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "landscape"

# Layer -> the layers its modules may import (function-level imports count too). The root's
# modules are layers of their own; "landscape" is the package's __init__ (its version).
ALLOWED = {
    "landscape": {"api", "errors"},
    "__main__": {"cli"},
    "errors": set(),
    "imaging": {"errors"},
    "runtime": {"errors", "imaging"},
    "pipelines": {"errors", "runtime", "imaging"},
    "api": {"errors", "pipelines", "runtime", "imaging"},
    "ray": {"api", "errors"},
    "cli": {"landscape", "api", "errors", "runtime", "imaging", "export"},
    "trainers": {"errors", "runtime", "imaging"},
    "export": {"landscape", "errors", "runtime", "imaging", "trainers"},
    "models": set(),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "landscape":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else _resolve(node.module))
        elif isinstance(node, ast.Import):
            found.update(_resolve(a.name) for a in node.names if a.name.split(".")[0] == "landscape")
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "landscape"


def test_the_package_root_holds_the_public_face_only():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= 8, root
    assert {"api.py", "ray.py", "errors.py", "__init__.py", "__main__.py"} <= set(root)
    assert not list(PACKAGE.glob("*.onnx")), "helper graphs live in landscape/runtime/data/"


def test_each_layer_imports_only_the_layers_below_it():
    crossings = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets
                       if _layer(a) != _layer(b) and _layer(b) not in ALLOWED[_layer(a)])
    assert not crossings, crossings


def test_no_import_circle():
    """Depth-first search over every import, function-level ones included: an import made
    inside a function to break a circle at run time still counts as one."""
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    # The package's __init__ re-exports the API lazily; a submodule naming `landscape` for its
    # version is not a circle through the API.
    cycles = [c for c in cycles if "landscape" not in c]
    assert not cycles, cycles


def test_the_circle_finder_sees_a_circle_made_inside_a_function(monkeypatch):
    monkeypatch.setitem(GRAPH, "landscape.runtime.cpu", GRAPH["landscape.runtime.cpu"] | {"landscape.runtime.sessions"})
    with pytest.raises(AssertionError):
        test_no_import_circle()


@pytest.mark.parametrize("folder", ["benchmarks", "evaluation", "scripts", "gpu"])
def test_no_script_edits_sys_path(folder):
    offenders = [str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*.py") if "sys.path.insert" in p.read_text()]
    assert not offenders, offenders
