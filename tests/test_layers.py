"""The package's layers import downward only: configuration and data code know nothing of models,
training or the entry points; models know nothing of training; only the composition root and the
entry points know everything. Read from the source (function-level imports included)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gru4recf"
# lowest first; a module may import from its own layer and those below it
LAYERS = [
    {"errors", "atomic_write", "locks", "logs", "openmp"},
    {"config", "runtime", "run_paths", "distributed"},
    {"data"},
    {"models"},
    {"evaluation"},
    {"training"},
    {"experiment"},
    {"quick_start", "recommender", "reference", "search", "plots", "cli", "__init__", "__main__"},
]


def layer_of(part: str) -> int:
    return next(index for index, names in enumerate(LAYERS) if part in names)


TOP_LEVEL = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}


def imported_parts(path: Path) -> set:
    """The top-level gru4recf parts (subpackage or module) that `path` imports; the package's own
    `__version__` is metadata, not a layer."""
    relative = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(relative[:-1])  # the package a module (or an __init__) belongs to
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            if node.module:
                targets.append(base + node.module.split("."))
            else:
                targets += [base + [alias.name] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gru4recf."):
            targets.append(node.module.split(".")[1:])
        elif isinstance(node, ast.Import):
            targets += [a.name.split(".")[1:] for a in node.names if a.name.startswith("gru4recf.")]
        for target in targets:
            if target and target[0] in TOP_LEVEL:
                found.add(target[0])
            elif target != ["__version__"]:
                found.add("__init__")
    return found


def test_every_module_of_the_package_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert all(any(part in names for names in LAYERS) for part in parts), parts


def test_layers_import_downward_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own == "__init__":  # the package's facade: lazy access to the entry points
            continue
        for part in imported_parts(path):
            if layer_of(part) > layer_of(own):
                upward.append(f"{path.relative_to(PACKAGE)} imports gru4recf.{part}")
    assert not upward, upward


def test_configuration_and_data_import_nothing_from_models_training_or_entry_points():
    forbidden = set().union(*LAYERS[3:])
    for folder in ("config", "data"):
        for path in (PACKAGE / folder).rglob("*.py"):
            assert not imported_parts(path) & forbidden, path
