"""Imports follow the flow: a module imports only modules of its own layer or of earlier ones, lazy imports
inside functions included, and module-level imports form no circle. Registries sit low and load their
built-in entries by name, as plug-ins: the task registry (tasks.base) lets the model read any task without
importing one, the kinds registry (features.kinds) lets the schema sniff kinds whose encoders come later."""

import ast
from pathlib import Path

import lamina

SOURCE = Path(lamina.__file__).parent
# Earliest first; a module matches the longest prefix listed.
LAYERS = [
    ("lamina.errors", "lamina.plain", "lamina.checked", "lamina.privacy_target", "lamina.config", "lamina.run",
     "lamina.library_warnings"),  # library_warnings: where a process's library warnings go (the CLI's, a worker's)
    ("lamina.data", "lamina.features.kinds", "lamina.features.blocks", "lamina.features.drift",
     "lamina.features.spelling"),  # kinds: the schema's vocabulary; spelling: one value, its ways of writing
    ("lamina.features",),
    ("lamina.nets",),
    ("lamina.training",),
    ("lamina.tasks.base",),
    ("lamina.model",),
    ("lamina.evaluation", "lamina.insight", "lamina.serving"),
    ("lamina.tasks",),
    ("lamina.api", "lamina.demo", "lamina.tuning", "lamina.tuning_report", "lamina.tracking", "lamina.federated",
     "lamina.federated_features", "lamina.sklearn"),  # the flow, and what is made of it: a study, a federation,
    # scikit-learn's estimators
    ("lamina.cli", "lamina"),
]


def layer(module: str) -> int:
    matches = [(len(prefix), index) for index, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported lamina module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lamina"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            modules = [n if (SOURCE.parent / (n.replace(".", "/") + ".py")).exists()
                       or (SOURCE.parent / n.replace(".", "/")).is_dir() else node.module for n in names]
            found += [(m, node.lineno, id(node) in top) for m in modules]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names if a.name.startswith("lamina")]
    return found


def modules() -> dict[str, Path]:
    result = {}
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        result[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return result


def test_no_import_runs_against_the_flow():
    against = []
    for name, path in modules().items():
        for imported, line, _ in imports(path):
            if imported != "lamina" and layer(imported) > layer(name):
                against.append(f"{path.relative_to(SOURCE.parent)}:{line} imports {imported}")
    assert not against, "\n".join(against)


def test_module_level_imports_form_no_circle():
    graph = {name: {m for m, _, top in imports(path) if top and m != name} for name, path in modules().items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for child in graph.get(name, ()):
            if state.get(child) == 1:
                raise AssertionError(" → ".join([*path, name, child]))
            if child in graph and not state.get(child):
                visit(child, [*path, name])
        state[name] = 2

    for name in graph:
        if not state.get(name):
            visit(name, [])
