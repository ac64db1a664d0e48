"""Imports run one way through the house (ARCHITECTURE.md): recipes -> trainers -> inference -> models -> data ->
rewards, with the root's leaf modules (errors, console) under all of them. Every import counts, the ones inside
functions too: a lazy upward import is still an upward import."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["rewards", "data", "models", "inference", "trainers", "recipes"]  # bottom to top
LEAVES = {"ponder", "ponder.errors", "ponder.console", "ponder.numerics"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(["ponder", *parts]).removesuffix(".__init__")


def ponder_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ponder"):
            folder = ROOT.joinpath(*node.module.split(".")[1:])
            submodules = [a.name for a in node.names if (folder / f"{a.name}.py").exists()]
            # `from ponder.rewards import functions` imports the module functions, not the package's __init__
            found |= {f"{node.module}.{name}" for name in submodules} if submodules else {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ponder")}
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1


def graph() -> dict[str, set[str]]:
    files = [p for name in LAYERS for p in (ROOT / name).rglob("*.py")]
    return {module_name(p): ponder_imports(p) for p in files}


def test_layer_packages_exist():
    assert all((ROOT / name / "__init__.py").exists() for name in LAYERS)


def test_no_upward_import():
    upward = []
    for module, imports in graph().items():
        for target in imports:
            if target in LEAVES:
                continue
            assert layer(target) >= 0, f"{module} imports {target}, which is in no layer"
            if layer(target) > layer(module):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(module, path):
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if target not in edges:
                continue
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
