"""A module's import closure in the project: every project file running it can execute.

`closure("stages.verify")` is the module, each project module it imports (at any depth,
lazy imports inside functions included: a backend imported on first use still shapes the
output) and the packages' `__init__.py` files. dvc.yaml's code deps (reasonmed/ops/wiring.py),
the compute fingerprint in every cache key (reasonmed/llm/fingerprint.py) and the pre-flight
memo all rest on it.

    python -c "from reasonmed.core.closure import closure; print(closure('stages.verify'))"
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("reasonmed", "stages")  # the project's own import roots


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file a dotted project module name loads from, or None (not a project module)."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _imported(tree: ast.AST, package: str) -> set[str]:
    """Dotted names a module imports: `import a.b`, `from a import b` (b a module or not)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def _parents(name: str) -> list[str]:
    """Packages executed before `name`: a.b.c -> a, a.b."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _direct(name: str, root: Path) -> frozenset[str]:
    f = module_file(name, root)
    package = name if f is not None and f.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
    found = set()
    for n in _imported(tree, package):
        for m in (*_parents(n), n):
            if module_file(m, root) is not None:
                found.add(m)
    return frozenset(found)


def closure_modules(*names: str, root: Path = ROOT) -> list[str]:
    """Every project module the named modules execute (themselves included), sorted."""
    seen: set[str] = set()
    todo = [m for n in names for m in (*_parents(n), n) if module_file(m, root)]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(_direct(m, root) - seen)
    return sorted(seen)


def closure(*names: str, root: Path = ROOT) -> list[str]:
    """Repo-relative paths of `closure_modules(*names)`, sorted."""
    return sorted(str(module_file(m, root).relative_to(root)) for m in closure_modules(*names, root=root))


_SNAKE_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


def snakefile_closure(path: Path, root: Path = ROOT) -> list[str]:
    """Project files a Snakefile imports (it is not plain Python, so its imports are read
    line by line) plus their closure."""
    names = [a or b for a, b in _SNAKE_IMPORT.findall(path.read_text(encoding="utf-8"))]
    return closure(*[n for n in names if n.split(".")[0] in PACKAGES], root=root)


def files_digest(paths: list[str], root: Path = ROOT) -> str:
    """sha256 over the files' names and bytes: one value that changes when any of them does."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.encode() + b"\0" + (root / p).read_bytes() + b"\0")
    return h.hexdigest()[:16]
