"""What a stage's output depends on, derived from the code: its import closure in the project.

`closure("stages.verify")` is every project file that running `python -m stages.verify`
can execute: the module, each project module it imports (at any depth, lazy imports inside
functions included: a backend imported on first use still shapes the output) and the
packages' `__init__.py` files. dvc.yaml lists exactly these files as a stage's code deps,
the Snakefile makes them inputs of its shard rule, and tests/test_wiring.py fails on any
difference, so editing shared code reruns exactly the stages that run it.

    python -m reasonmed.wiring stages.verify     # one stage's closure
    python -m reasonmed.wiring --sync            # rewrite dvc.yaml's code deps to match
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def code_deps(stage: str, root: Path = ROOT) -> list[str]:
    """A DVC stage's code deps: its module's closure, and for generate the Snakefile's too
    (its shard jobs run the code the Snakefile imports)."""
    files = closure(f"stages.{stage}", root=root)
    if stage == "generate":
        files = sorted(set(files) | set(snakefile_closure(root / "Snakefile", root)))
    return files


# --- deps that follow params -------------------------------------------------------------
#
# A stage's model deps and params name the roles its params name, through DVC's own
# interpolation (`models/${rank.model}`, `models.${rank.model}`), so `dvc exp run -S
# rank.model=agent2` makes rank depend on agent2. What interpolation cannot say (how many
# agents; the local model folders a role points at outside models/) is checked against the
# params in effect by `dep_problems`, which the pre-flight check runs before every `make
# repro` and the wiring test runs on the committed and on edited params.

# stage -> the params keys naming the roles it uses (a list-valued key names several).
# tests/test_wiring.py checks this map against the `models.<role>` keys each stage really
# reads in a traced run.
ROLE_KEYS = {"generate": ("generate.agents",), "verify": ("verify.model",),
             "rank": ("rank.model",), "refine": ("refine.model", "verify.model"),
             "optimize": ("optimize.model", "verify.model"),
             "summarize": ("summarize.model",), "score": ("score.model",),
             "sft": ("sft.base_model",)}
MODELS_DIR = "models"  # the models stage's out: models/<role> for every role


def get_key(params: dict, dotted: str):
    node = params
    for part in re.findall(r"[^.\[\]]+", dotted):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


_INTERP = re.compile(r"\$\{([^}]+)\}")


def _render(v, ctx: dict):
    if isinstance(v, dict):
        return {_render(k, ctx): _render(x, ctx) for k, x in v.items()}
    if isinstance(v, list):
        return [_render(x, ctx) for x in v]
    if isinstance(v, str):
        whole = _INTERP.fullmatch(v)
        if whole:  # a lone ${x} keeps its value's type (a foreach list, a dict)
            return get_key(ctx, whole.group(1))
        return _INTERP.sub(lambda m: str(get_key(ctx, m.group(1))), v)
    return v


def render_stages(dvc: dict, params: dict) -> dict[str, dict]:
    """Every concrete stage of a dvc.yaml dict (`name`, or `name@key` for a foreach) ->
    its body with `${...}` resolved from `params` (and the foreach's key and item), as DVC
    renders it for the interpolation forms dvc.yaml uses (tests/test_wiring.py compares
    with DVC's own rendering)."""
    out = {}
    for name, spec in (dvc.get("stages") or {}).items():
        if "foreach" not in spec:
            out[name] = _render(spec, params)
            continue
        each = _render(spec["foreach"], params)
        pairs = each.items() if isinstance(each, dict) else ((x, x) for x in each)
        for key, item in pairs:
            out[f"{name}@{key}"] = _render(spec["do"], {**params, "key": key, "item": item})
    return out


def _paths(entries: list) -> list[str]:
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def roles_of(stage: str, params: dict) -> list[str]:
    """The roles a stage uses under `params` (an evaluate row: its role, if it names one)."""
    base, _, item = stage.partition("@")
    if base == "evaluate":
        row = ((params.get("evaluate") or {}).get("models") or {}).get(item) or {}
        return [row["model"]] if row.get("model") in (params.get("models") or {}) else []
    out: list[str] = []
    for key in ROLE_KEYS.get(base, ()):
        try:
            v = get_key(params, key)
        except (KeyError, IndexError, TypeError):
            continue
        out += [str(x) for x in (v if isinstance(v, list) else [v])]
    return list(dict.fromkeys(out))


def local_model_folders(params: dict) -> list[str]:
    """Local folders roles point at that the models stage does not build (a checkpoint on
    disk): the models stage hashes each into models/<role>/reference.json, so each must be a
    dep of that stage, or swapping the weights would rerun nothing."""
    from reasonmed.params import looks_local

    models = params.get("models") or {}
    built = {str(b.get("model")) for b in models.values() if isinstance(b, dict) and b.get("build")}
    out = []
    for body in models.values():
        if not isinstance(body, dict) or body.get("backend") == "openai" or body.get("build"):
            continue
        m = str(body.get("model", ""))
        if m and m not in built and looks_local(m) and not m.startswith(f"{MODELS_DIR}/"):
            out.append(m)
    return sorted(set(out))


def dep_problems(dvc: dict, params: dict) -> list[str]:
    """Where dvc.yaml, rendered with `params`, disagrees with what the stages will read:
    a role a stage uses whose models/<role> dep or models.<role> param is missing, and a
    local model folder that is no dep of the models stage. [] when they agree."""
    try:
        stages = render_stages(dvc, params)
    except IndexError:
        n = len((params.get("generate") or {}).get("agents") or [])
        return [f"dvc.yaml: an interpolation indexes past a list (generate has {n} agents: "
                "dvc.yaml's generate stage lists one models/<agent> dep and param per agent; "
                "make them as many as generate.agents)"]
    except (KeyError, TypeError) as e:
        return [f"dvc.yaml: an interpolation names a params key that is missing: {e}"]
    out = []
    for name, body in stages.items():
        deps, ps = set(_paths(body.get("deps"))), set(_paths(body.get("params")))
        for role in roles_of(name, params):
            if f"{MODELS_DIR}/{role}" not in deps or f"models.{role}" not in ps:
                out.append(f"dvc.yaml: stage {name} uses role '{role}' but does not depend on "
                           f"models/{role} and models.{role} (one dep and param per role; "
                           "generate lists one per agent)")
    models_deps = set(_paths((stages.get("models") or {}).get("deps")))
    for folder in local_model_folders(params):
        if folder not in models_deps:
            out.append(f"dvc.yaml: the models stage does not depend on {folder}, a local "
                       "model folder a role uses (python -m reasonmed.wiring --sync adds it)")
    return out


_CODE_DEP = re.compile(r"^(\s+)- ((?:reasonmed|stages)/\S+\.py)\s*$")
_FOLDER_MARK = "# local model folders the roles use"


def sync_dvc_yaml(path: Path = ROOT / "dvc.yaml", root: Path = ROOT,
                  params: Path | None = None) -> bool:
    """Rewrite each stage's code deps in dvc.yaml to its closure, and the models stage's
    local-folder deps to the folders `params` (default: params.yaml beside dvc.yaml) points
    roles at (text edit: comments and layout stay). Returns True when the file changed."""
    from reasonmed.params import read_params

    folders = local_model_folders(read_params(params or path.parent / "params.yaml"))
    text = path.read_text(encoding="utf-8")
    out, stage, done, in_folders = [], None, set(), False
    for line in text.split("\n"):
        if m := re.match(r"^  ([\w-]+):\s*$", line):
            stage = m.group(1)
        if in_folders:  # the block under the marker: replaced by the folders in effect
            if re.match(r"^\s+- ", line):
                continue
            in_folders = False
        if line.strip() == _FOLDER_MARK and stage == "models":
            out.append(line)
            out += [f"{line[:len(line) - len(line.lstrip())]}- {f}" for f in folders]
            in_folders = True
            continue
        if (m := _CODE_DEP.match(line)) and stage is not None:
            if stage not in done:
                out += [f"{m.group(1)}- {f}" for f in code_deps(stage, root)]
                done.add(stage)
            continue
        out.append(line)
    new = "\n".join(out)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # print a stage's closure, or --sync dvc.yaml's code deps
    if sys.argv[1:] == ["--sync"]:
        print("dvc.yaml updated" if sync_dvc_yaml() else "dvc.yaml already in sync")
    else:
        for f in closure(*(sys.argv[1:] or ["stages.generate"])):
            print(f)
