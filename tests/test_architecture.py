"""The package's layering: no import circle, dependencies in one direction, plain-PyTorch parts without Lightning."""

import ast
import os
import subprocess
import sys

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "veco_lightning")

# Lower layers never import higher ones: lexicon <- data <- evaluation <- datamodule / module / tasks <- cli. The two
# commands' CLIs sit on top (veco-xtreme suite runs veco-fit test for XTREME's retrieval tasks); nothing imports them.
LAYERS = [
    ("veco_lightning.tasks.cli", 4),
    ("veco_lightning.tasks.xtreme_cli", 4),
    ("veco_lightning.lexicon", 0),
    ("veco_lightning.data", 1),
    ("veco_lightning.evaluation", 2),
    ("veco_lightning.datamodule", 3),
    ("veco_lightning.module", 3),
    ("veco_lightning.tasks", 3),
    ("veco_lightning.cli", 4),
]


def _modules() -> dict[str, str]:
    found = {}
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


def _imports(path: str, modules: dict[str, str]) -> set[str]:
    """Package modules imported anywhere in a file (module level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name.startswith("veco_lightning"):
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _layer(module: str) -> int | None:
    for prefix, level in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return level
    return None


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:  # depth-first search; a grey node met again closes a circle
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_dependencies_point_down_the_layers():
    wrong = [f"{src} imports {dst}" for src, targets in _graph().items() for dst in targets
             if _layer(src) is not None and _layer(dst) is not None and _layer(dst) > _layer(src)]
    assert not wrong, wrong
    lexicon = {dst for src, targets in _graph().items() if src.startswith("veco_lightning.lexicon") for dst in targets}
    # Besides itself, the lexicon uses only the package's stdlib-only leaves (paths, lazy imports, the GC helpers).
    allowed = ("veco_lightning.lexicon", "veco_lightning.paths", "veco_lightning._lazy", "veco_lightning.heap")
    assert all(dst.startswith(allowed) for dst in lexicon), lexicon


def test_library_parts_load_without_lightning():
    code = ("import sys, veco_lightning.losses, veco_lightning.lexicon, veco_lightning.data.masking, "
            "veco_lightning.data.units, veco_lightning.models.heads\n"
            "heavy = ('lightning', 'pytorch_lightning', 'datasets')\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
            "assert not loaded, loaded\n"
            "import veco_lightning\n"
            "assert veco_lightning.SequenceContrastiveLoss.__name__ == 'SequenceContrastiveLoss'\n"
            "assert 'lightning' not in sys.modules\n"
            "veco_lightning.VecoPretrainModule  # resolved on first use\n"
            "assert 'lightning' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_public_names_resolve():
    import veco_lightning
    from veco_lightning import data, evaluation, lexicon, models

    for package in (veco_lightning, data, evaluation, lexicon, models):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


def test_console_scripts_resolve():
    """Every ``[project.scripts]`` entry names a function that exists (a moved module breaks the installed command)."""
    import importlib
    import tomllib

    with open(os.path.join(os.path.dirname(PACKAGE), "pyproject.toml"), "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert len(scripts) >= 5
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
