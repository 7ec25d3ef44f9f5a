"""The library's layers, enforced: each sub-package of reasonmed imports only the layers
below it (or its own), never a stage; no module imports itself back through others.

    python -m pytest -q tests/test_layers.py
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reasonmed.core.closure import ROOT, module_file

# Bottom to top. `reasonmed/__init__.py` (the CPU pins) sits below them all.
LAYERS = ["core", "llm", "ingest", "method", "report", "ops"]
RANK = {name: i for i, name in enumerate(LAYERS)}
LIBRARY_MAX_LINES = 400  # a module past this is two modules


def modules() -> list[str]:
    out = []
    for f in sorted((ROOT / "reasonmed").rglob("*.py")):
        rel = f.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        out.append(".".join(parts))
    return out


def imports(module: str) -> set[str]:
    """Project modules `module` imports anywhere in its body (lazy imports included)."""
    f = module_file(module)
    tree = ast.parse(f.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            if n.split(".")[0] in ("reasonmed", "stages") and module_file(n) is not None:
                out.add(n)
    return out - {module}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_the_tree_has_exactly_the_layers():
    found = {p.name for p in (ROOT / "reasonmed").iterdir() if (p / "__init__.py").is_file()}
    assert found == set(LAYERS)
    loose = [p.name for p in (ROOT / "reasonmed").glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"every library module belongs to a layer: {loose}"


@pytest.mark.parametrize("module", modules())
def test_a_layer_imports_only_the_layers_below_it(module):
    mine = layer(module)
    for dep in imports(module):
        assert not dep.startswith("stages"), (f"{module} imports the stage {dep}: stages "
                                              "import the library, never the reverse")
        theirs = layer(dep)
        if mine is None or theirs is None:  # the package roots: reasonmed/__init__.py
            assert theirs is None or mine is not None, f"reasonmed/__init__.py imports {dep}"
            continue
        assert RANK[theirs] <= RANK[mine], (f"{module} ({mine}) imports {dep} ({theirs}): "
                                            f"layer order is {' < '.join(LAYERS)}")


def test_no_import_cycle():
    graph = {m: imports(m) for m in modules()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_cycle_check_can_fail(monkeypatch):
    """The converse: a planted cycle is found."""
    real = imports
    planted = {"reasonmed.core.records": {"reasonmed.core.streams"},
               "reasonmed.core.streams": {"reasonmed.core.records"}}
    monkeypatch.setitem(globals(), "imports", lambda m: planted.get(m, real(m)))
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycle()


@pytest.mark.parametrize("module", [m for m in modules() if layer(m)])
def test_no_library_module_is_too_long(module):
    n = len(module_file(module).read_text(encoding="utf-8").splitlines())
    assert n <= LIBRARY_MAX_LINES, f"{module}: {n} lines (split it by what it does)"


def test_the_package_roots_are_thin():
    assert len((ROOT / "reasonmed" / "__init__.py").read_text().splitlines()) < 60
    assert Path(module_file("reasonmed.core")).name == "__init__.py"
