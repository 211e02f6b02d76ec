"""The package's shape, read from the source: every module imports only from its own layer and
the layers below it as ARCHITECTURE.md lists them (imports inside functions too), the imports
within a layer form no circle, no module is over 500 lines, imports inside functions are only of
the modules ARCHITECTURE.md lists as lazy, and nothing outside ``models/`` asks a model its class
(``isinstance``) instead of its declared capabilities."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "aekit"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_module(name: str) -> bool:
    return name in MODULES


def imports(source: str, own: str = "") -> set[str]:
    """The aekit modules ``source`` imports, anywhere in it: ``from aekit.x import y`` counts as
    ``aekit.x.y`` where y is a module, else as ``aekit.x``; ``own`` (the module itself) left out."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "aekit"}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "aekit"
        ):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if _is_module(n)}
            if not all(_is_module(n) for n in names):
                found.add(node.module)
    return found - {own}


GRAPH = {m: imports(p.read_text(), m) - {"aekit"} for m, p in MODULES.items() if m != "aekit"}


def _block(after: str) -> list[str]:
    """The lines of the first ```text block after the line starting with ``after`` in
    ARCHITECTURE.md."""
    text = ARCHITECTURE.read_text()
    start = text.index("```text\n", text.index(after)) + len("```text\n")
    return text[start : text.index("```", start)].strip().splitlines()


def layers() -> list[tuple[str, list[str]]]:
    return [
        (name.strip(), patterns.split())
        for name, patterns in (line.split(":", 1) for line in _block("## Layers"))
    ]


def exceptions() -> tuple[set[str], set[frozenset[str]]]:
    """Files allowed over MAX_LINES and module pairs allowed to import each other."""
    long, circles = set(), set()
    for line in _block("Allowed exceptions"):
        kind, rest = line.split(":", 1)
        if kind == "over 500 lines":
            long |= {
                item.strip().split(" ")[0] for item in re.sub(r"\([^)]*\)", "", rest).split(",")
            }
        elif kind == "circle":
            circles.add(frozenset(f"aekit.{name}" for name in rest.split("(")[0].split()))
    return long, circles


def layer_of(module: str) -> int:
    """The index of the layer that lists ``module`` (``pkg.*`` lists every module under pkg)."""
    short = module.removeprefix("aekit.")
    for index, (_, patterns) in enumerate(layers()):
        for pattern in patterns:
            if short == pattern or (pattern.endswith(".*") and short.startswith(pattern[:-1])):
                return index
    raise AssertionError(
        f"{module} is in no layer of ARCHITECTURE.md's '## Layers' block: add it there"
    )


def test_every_module_is_in_exactly_the_layer_listed():
    for module in MODULES:
        if module != "aekit":
            layer_of(module)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    names = [name for name, _ in layers()]
    return [
        f"{module} ({names[layer_of(module)]}) imports {target} ({names[layer_of(target)]})"
        for module, targets in graph.items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]


def find_circle(graph: dict[str, set[str]], allowed: set[frozenset[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order), not counting the ``allowed`` pairs."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            if frozenset((module, target)) not in allowed and (
                circle := visit(target, [*path, module])
            ):
                return circle
        done.add(module)
        return None

    return next((c for m in graph if (c := visit(m, [])) is not None), None)


def test_modules_import_only_from_their_layer_and_below():
    upward = upward_imports(GRAPH)
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_circle():
    circle = find_circle(GRAPH, exceptions()[1])
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_checks_see_an_upward_import_and_a_circle():
    probe = "def later():\n    from aekit.cli import main\n    from aekit import formats, metrics\n"
    # inside a function too
    assert imports(probe) == {"aekit.cli", "aekit.formats", "aekit.metrics"}
    graph = {**GRAPH, "aekit.errors": imports(probe)}
    assert any(
        line.startswith("aekit.errors (foundation) imports aekit.cli (cli)")
        for line in upward_imports(graph)
    )
    graph["aekit.run"] = GRAPH["aekit.run"] | {"aekit.commands.codes"}
    assert find_circle(graph, set()) is not None
    assert find_circle(GRAPH, exceptions()[1]) is None


def test_no_module_over_500_lines():
    long, _ = exceptions()
    over = [
        f"{path.relative_to(PACKAGE)}: {n} lines"
        for path in MODULES.values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(PACKAGE)) not in long
    ]
    assert not over, (
        f"modules over {MAX_LINES} lines (split them, or list them in ARCHITECTURE.md with why):\n"
        + "\n".join(over)
    )


def lazy_rules() -> tuple[list[str], set[str]]:
    """The modules any module may import inside a function (``lazy imports``: each one's submodules
    too), and the parser's modules, which may import any aekit module there (``lazy in the
    parser``)."""
    rules = dict(line.split(":", 1) for line in _block("Allowed exceptions"))
    listed = lambda kind: re.sub(r"\([^)]*\)", "", rules[kind]).split()
    return listed("lazy imports"), {
        f"aekit.{name}" if name != "aekit" else name for name in listed("lazy in the parser")
    }


def late_imports(source: str, module: str) -> list[str]:
    """The imports inside functions of ``source`` (module ``module``) that ARCHITECTURE.md does not
    allow."""
    lazy, parser = lazy_rules()
    on_list = lambda name: any(name == item or name.startswith(item + ".") for item in lazy)
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [[a.name] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [[node.module or "", f"{node.module}.{a.name}"] for a in node.names]
            else:
                continue
            if not all(
                any(on_list(n) or (module in parser and n.split(".")[0] == "aekit") for n in each)
                for each in names
            ):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return sorted(set(found))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_inside_functions_only_of_the_listed_lazy_modules(module):
    late = late_imports(MODULES[module].read_text(), module)
    assert not late, (
        f"{module} imports inside a function what ARCHITECTURE.md does not list as lazy: move "
        "it to the "
        "top of the module (or list it there, with why):\n" + "\n".join(late)
    )


def test_the_lazy_import_check_sees_an_import_not_listed():
    probe = (
        "def f():\n    import json\n    from aekit.run import Run\n    from scipy import ndimage\n"
        "    from aekit import metrics\n    from torch.utils.tensorboard import SummaryWriter\n"
        "    from aekit import metrics, formats\n"
    )
    assert late_imports(probe, "aekit.train") == [
        "line 2: import json",
        "line 3: from aekit.run import Run",
        "line 7: from aekit import metrics, formats",
    ]
    # the parser imports commands when they run
    assert late_imports(probe, "aekit.cli") == ["line 2: import json"]
    # at the top: fine
    assert late_imports("import json\nfrom aekit.run import Run\n", "aekit.train") == []


def _model_classes() -> set[str]:
    return {
        node.name
        for path in (PACKAGE / "models").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }


@pytest.mark.parametrize(
    "module", [m for m, p in MODULES.items() if "models" not in p.relative_to(PACKAGE).parts]
)
def test_no_isinstance_on_a_model_class_outside_models(module):
    classes = _model_classes()
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "isinstance"
            and len(node.args) == 2
        ):
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            found += [
                f"line {node.lineno}: {k.id}"
                for k in kinds
                if isinstance(k, ast.Name) and k.id in classes
            ]
    assert not found, (
        f"{module} asks a model its class; ask a capability of models/base.py instead: {found}"
    )
