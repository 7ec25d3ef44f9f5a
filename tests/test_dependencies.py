"""Declared = imported: the third-party modules reasonmed/ and stages/ import (anywhere in a
module, lazy imports included) against `[project] dependencies` in pyproject.toml, both ways,
and the lock files against pyproject.toml.

An AST walk, not deptry: the check runs from the hash-locked environment (CI installs exactly
requirements/cpu.lock), and deptry would add itself and two new packages to both locks.

    python -m pytest -q tests/test_dependencies.py
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, the locks' Python

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"reasonmed", "stages"}
PROJECT = "reasonmed (pyproject.toml)"  # how a lock names a requirement of the project

# Declared and never imported, on purpose: dependencies of record.
UNIMPORTED = {
    "dvc": "the pipeline runs through its CLI (dvc repro, dvc exp run)",
    "dvc-ssh": "DVC remote plugin: a team shares artifacts over SSH (README: Sharing artifacts)",
    "dvc-s3": "DVC remote plugin: a team shares artifacts over S3 (README: Sharing artifacts)",
    "snakemake": "the generate fan-out runs its CLI (reasonmed/ops/fanout.py)",
    "pandas": "the notebooks (notebooks/*.py, jupytext) read the datasets with it",
}
# Imported and not a [project] dependency, on purpose: an optional extra, imported lazily
# only where that extra is installed. module -> extra.
OPTIONAL = {"vllm": "gpu"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def declared(extras: tuple[str, ...] = ()) -> dict[str, Requirement]:
    project = pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return {canonical(r.name): r for r in map(Requirement, reqs)}


@cache
def imported_modules() -> dict[str, list[str]]:
    """Top-level third-party module -> the files that import it."""
    out: dict[str, list[str]] = {}
    for top in sorted(FIRST_PARTY):
        for f in sorted((ROOT / top).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    mod = name.split(".")[0]
                    if mod not in sys.stdlib_module_names and mod not in FIRST_PARTY | {"__future__"}:
                        out.setdefault(mod, []).append(str(f.relative_to(ROOT)))
    return out


@cache
def installed() -> dict[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> list[str]:
    return [canonical(d) for d in installed().get(module, [])]


def test_every_imported_module_is_declared():
    deps = declared()
    problems = []
    for mod, files in imported_modules().items():
        if mod in OPTIONAL:
            extra = OPTIONAL[mod]
            assert canonical(mod) in declared((extra,)), f"{mod}: not in the `{extra}` extra"
            continue
        dists = distributions(mod)
        if not dists:
            problems.append(f"{mod} (imported by {files[0]}) is not installed here")
        elif not any(d in deps for d in dists):
            problems.append(f"{mod} (imported by {files[0]}) comes from {dists}, "
                            "not in [project] dependencies")
    assert problems == []


def test_every_declared_dependency_is_imported_or_of_record():
    used = {d for mod in imported_modules() for d in distributions(mod)}
    assert not set(UNIMPORTED) & used, "imported now: drop it from UNIMPORTED"
    unused = set(declared()) - used - set(UNIMPORTED)
    assert unused == set(), f"declared, never imported by reasonmed/ or stages/: {sorted(unused)}"


def lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, what it is there for), from a `uv pip compile` lock file."""
    out: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            name = canonical(m.group(1))
            out[name] = (m.group(2), [])
        elif name and (m := re.match(r"^ {4}# (?:via )?( *)(\S.*)$", line)) and line.strip() != "# via":
            out[name][1].append(m.group(2).strip())
    return out


# Each lock and the extras `make lock` compiles into it (the CPU lock leaves torch out: the
# set-up script installs the CPU build).
LOCKS = {"cpu.lock": (("dev",), {"torch"}), "gpu.lock": (("gpu", "dev"), set())}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_locks_agree_with_pyproject(lock):
    extras, left_out = LOCKS[lock]
    entries = lock_entries(ROOT / "requirements" / lock)
    wanted = {n: r for n, r in declared(extras).items() if n not in left_out}
    of_project = {n for n, (_, via) in entries.items() if PROJECT in via}
    assert of_project == set(wanted), "regenerate the locks: make lock"
    for n, req in wanted.items():
        assert req.specifier.contains(entries[n][0], prereleases=True), (n, entries[n][0], str(req))
