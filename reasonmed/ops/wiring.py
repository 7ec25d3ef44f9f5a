"""What a stage's output depends on, derived from the code: its import closure in the project.

`closure("stages.verify")` is every project file that running `python -m stages.verify`
can execute: the module, each project module it imports (at any depth, lazy imports inside
functions included: a backend imported on first use still shapes the output) and the
packages' `__init__.py` files. dvc.yaml lists exactly these files as a stage's code deps,
the Snakefile makes them inputs of its shard rule, and tests/test_wiring.py fails on any
difference, so editing shared code reruns exactly the stages that run it.

    python -m reasonmed.ops.wiring stages.verify     # one stage's closure
    python -m reasonmed.ops.wiring --sync            # rewrite dvc.yaml's code deps to match
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from reasonmed.core.closure import ROOT, closure, snakefile_closure

# Layers a stage depends on as a whole folder instead of file by file, which keeps dvc.yaml's
# code deps short. The cost is reruns after an edit of a file in the folder that a stage does
# not import (`python -m reasonmed.ops.wiring --coarse-cost` counts them): for the LLM layer
# about one stage per file (every LLM stage runs nearly all of it), for core it would be ~90
# reruns over its 15 files, so core and the layers above stay exact per file.
COARSE = ("reasonmed/llm",)


def closure_files(stage: str, root: Path = ROOT) -> list[str]:
    """Every project file running the stage executes: its module's closure, and for generate
    the Snakefile's too (its shard jobs run the code the Snakefile imports)."""
    files = closure(f"stages.{stage}", root=root)
    if stage == "generate":
        files = sorted(set(files) | set(snakefile_closure(root / "Snakefile", root)))
    return files


def coarsen(files: list[str]) -> list[str]:
    """Files under a COARSE layer become that layer's folder; the rest stay as they are."""
    return sorted({next((c for c in COARSE if f.startswith(c + "/")), f) for f in files})


def code_deps(stage: str, root: Path = ROOT) -> list[str]:
    """A DVC stage's code deps: its closure, with the COARSE layers as whole folders."""
    return coarsen(closure_files(stage, root))


def covers(deps: list[str], path: str) -> bool:
    """Whether an edit of `path` changes one of `deps` (a file, or a folder holding it)."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def coarse_cost(stages: list[str], root: Path = ROOT) -> dict[str, int]:
    """For each file of a COARSE layer: how many stages its edit reruns beyond the stages
    that import it (the price of folder deps)."""
    exact = {s: set(closure_files(s, root)) for s in stages}
    deps = {s: code_deps(s, root) for s in stages}
    files = sorted(str(f.relative_to(root)) for c in COARSE for f in (root / c).rglob("*.py"))
    return {f: sum(covers(deps[s], f) for s in stages) - sum(f in exact[s] for s in stages)
            for f in files}


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
# evaluate is not here: roles_of reads each row's own role (a foreach entry) and the
# judge's (`evaluate.judge`), so no row claims another row's role.
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
    """The roles a stage uses under `params` (an evaluate row: its role, if it names one,
    and the judge's, if one is set)."""
    base, _, item = stage.partition("@")
    out: list[str] = []
    if base == "evaluate":
        ev = params.get("evaluate") or {}
        row = (ev.get("models") or {}).get(item) or {}
        out += [row["model"]] if row.get("model") in (params.get("models") or {}) else []
        out += [str(ev["judge"])] if ev.get("judge") else []
        return list(dict.fromkeys(out))
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
    from reasonmed.core.params import looks_local

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


def rl_rollouts(params: dict) -> list[str]:
    """What the explorer shows of RL: each variant's rollouts (rl.variants)."""
    return [f"data/rl/{v}/samples.jsonl" for v in ((params.get("rl") or {}).get("variants") or [])]


# Dep lists in dvc.yaml that follow a params list DVC cannot expand into deps: stage ->
# (the marker comment above the block, the deps params make, which deps belong to it).
# `--sync` rewrites each block; dep_problems (the pre-flight) reports a stale one.
BLOCKS = {
    "models": ("# local model folders the roles use", local_model_folders,
               None),  # checked in dep_problems on its own: the folders lie outside
    "explore": ("# the RL rollouts of rl.variants", rl_rollouts,
                lambda d: d.startswith("data/rl/") and d.endswith("/samples.jsonl")),
}


def dep_problems(dvc: dict, params: dict, root: Path | None = None) -> list[str]:
    """Where dvc.yaml, rendered with `params`, disagrees with what the stages will read:
    a role a stage uses whose models/<role> dep or models.<role> param is missing, a
    local model folder that is no dep of the models stage, a dep block that does not list
    what params make (BLOCKS), and, given the checkout's `root`, a dep nothing makes.
    [] when they agree."""
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
        if f"{MODELS_DIR}/None" in deps or "models.None" in ps:  # a null role, interpolated
            out.append(f"dvc.yaml: stage {name} depends on models/None: a role key it interpolates "
                       "is null (evaluate.judge: null disables the judge; then drop "
                       "models/${evaluate.judge} and models.${evaluate.judge} from the stage)")
    models_deps = set(_paths((stages.get("models") or {}).get("deps")))
    for folder in local_model_folders(params):
        if folder not in models_deps:
            out.append(f"dvc.yaml: the models stage does not depend on {folder}, a local "
                       "model folder a role uses (python -m reasonmed.ops.wiring --sync adds it)")
    for stage, (mark, make, owns) in BLOCKS.items():
        if owns is None or stage not in stages:
            continue
        have, want = [d for d in _paths(stages[stage].get("deps")) if owns(d)], make(params)
        if sorted(have) != sorted(want):
            out.append(f"dvc.yaml: stage {stage} depends on {have or 'none'} where params make "
                       f"{want or 'none'} ({mark.lstrip('# ')}; python -m "
                       "reasonmed.ops.wiring --sync rewrites them)")
    if root is not None:
        made = outs_of(stages)
        out += unmade_deps(stages, root, made) + stray_files(stages, root, made)
    return out


def unmade_deps(stages: dict[str, dict], root: Path, made: list[str] | None = None) -> list[str]:
    """Deps inside the project that no stage writes: absent from the checkout (in a fresh
    clone DVC stops on each, "missing data 'source'", after the stages before it ran) or a
    leftover an earlier run wrote (git-ignored, with no .dvc file: DVC would read the stale
    file as a source, e.g. an RL model after its variant left rl.variants). A path is made
    when a stage's out is it, holds it, or lies under it."""
    made = outs_of(stages) if made is None else made
    unmade: dict[str, str] = {}
    for name, body in stages.items():
        for d in _paths(body.get("deps")):
            d = d.rstrip("/")
            if Path(d).is_absolute() or "://" in d or d.startswith(".."):
                continue  # outside the project: the check's model-folder lines cover those
            if not covers(made, d) and not any(covers([d], o) for o in made):
                unmade.setdefault(d, name)
    left = _ignored([d for d in unmade if (root / d).exists()], root)
    return [f"dvc.yaml: stage {name} depends on {d}, which no stage makes and "
            + ("this checkout does not hold" if not (root / d).exists() else
               "an earlier run left behind (no stage or .dvc file tracks it)")
            for d, name in unmade.items() if not (root / d).exists() or d in left]


def outs_of(stages: dict[str, dict]) -> list[str]:
    """Every path a stage writes (outs, metrics, plots) of rendered stages."""
    return [o.rstrip("/") for b in stages.values() for k in ("outs", "metrics", "plots")
            for o in _paths(b.get(k))]


def stray_files(stages: dict[str, dict], root: Path, made: list[str] | None = None) -> list[str]:
    """Files inside a folder dep that holds stage outputs (data/benchmarks, data/evaluate)
    which no stage makes: an earlier run's leftover (an old layout's file, a renamed
    variant's output). Its bytes enter the folder's hash, so this checkout's dvc.lock would
    differ from a fresh clone's. A killed writer's temp file is left out: its writer sweeps
    it on the next run."""
    made = outs_of(stages) if made is None else made
    found: dict[str, str] = {}
    for name, body in stages.items():
        for d in _paths(body.get("deps")):
            d = d.rstrip("/")
            if not (root / d).is_dir() or not any(o.startswith(d + "/") for o in made):
                continue
            for f in (root / d).rglob("*"):
                rel = f.relative_to(root).as_posix()
                if f.is_file() and not covers(made, rel) \
                        and not (f.name.startswith(".") and f.name.endswith(".tmp")):
                    found.setdefault(rel, f"{d}, a dep of {name}")
    left = _ignored(sorted(found), root)
    # One line per leftover folder (a dropped evaluate row's six files), else per file.
    units: dict[str, list[str]] = {}
    for rel in sorted(left):
        folder = found[rel].split(",")[0]
        top = folder + "/" + rel[len(folder) + 1:].split("/")[0]
        whole = (root / top).is_dir() and not covers(made, top) and not any(
            covers([top], o) for o in made)
        units.setdefault(top + "/" if whole else rel, []).append(rel)
    return [f"{unit}{f' ({len(files)} files)' if len(files) > 1 else ''}: no stage makes it, "
            f"yet it lies in {found[files[0]]}, so its bytes enter that folder's hash and this "
            "checkout's dvc.lock would differ from a fresh clone's (an earlier run's "
            "leftover? delete it)" for unit, files in units.items()]


def _ignored(paths: list[str], root: Path) -> set[str]:
    """Of `paths`, those git ignores and no .dvc file tracks (none when git cannot say)."""
    import subprocess

    if not paths:
        return set()
    try:
        r = subprocess.run(["git", "check-ignore", "--stdin"], cwd=root, input="\n".join(paths),
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return set()

    def tracked(d: str) -> bool:
        return any((root / f"{q}.dvc").exists() for q in [d, *map(str, Path(d).parents)]
                   if q != ".")

    return {d for d in r.stdout.splitlines() if d and not tracked(d)}


_CODE_DEP = re.compile(r"^(\s+)- ((?:reasonmed|stages)/\S+\.py|(?:%s)/?)\s*$"
                       % "|".join(map(re.escape, COARSE)))


def sync_dvc_yaml(path: Path = ROOT / "dvc.yaml", root: Path = ROOT,
                  params: Path | None = None) -> bool:
    """Rewrite each stage's code deps in dvc.yaml to its closure, and each BLOCKS block to
    what `params` (default: params.yaml beside dvc.yaml) makes: the models stage's local
    model folders, the explorer's RL rollouts (text edit: comments and layout stay).
    Returns True when the file changed."""
    from reasonmed.core.params import read_params

    p = read_params(params or path.parent / "params.yaml")
    text = path.read_text(encoding="utf-8")
    out, stage, done, in_block = [], None, set(), False
    for line in text.split("\n"):
        if m := re.match(r"^  ([\w-]+):\s*$", line):
            stage = m.group(1)
        if in_block:  # the lines under a block's marker: replaced by what params make
            if re.match(r"^\s+- ", line):
                continue
            in_block = False
        if stage in BLOCKS and line.strip() == BLOCKS[stage][0]:
            out.append(line)
            out += [f"{line[:len(line) - len(line.lstrip())]}- {f}" for f in BLOCKS[stage][1](p)]
            in_block = True
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


if __name__ == "__main__":  # print a stage's closure, --sync dvc.yaml, or --coarse-cost
    if sys.argv[1:] == ["--sync"]:
        print("dvc.yaml updated" if sync_dvc_yaml() else "dvc.yaml already in sync")
    elif sys.argv[1:] == ["--coarse-cost"]:
        names = [p.stem for p in sorted((ROOT / "stages").glob("*.py")) if p.stem != "__init__"]
        cost = coarse_cost(names)
        for f, n in cost.items():
            print(f"{n:3d}  {f}")
        print(f"{sum(cost.values())} extra stage reruns over {len(cost)} single-file edits")
    else:
        for f in closure(*(sys.argv[1:] or ["stages.generate"])):
            print(f)
