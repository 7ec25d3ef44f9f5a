# Fan-out inside the DVC stage `generate` only: {agent} x {shard} jobs, then gather.
# DVC owns the edges between method steps; this file never encodes one. Run by
#   python -m stages.generate fanout      (dvc.yaml's cmd; options from exec.generate)
# which calls snakemake with --nolock --rerun-incomplete, and on a cluster with a profile
# (exec.generate.snakemake: --profile configs/slurm; see README).
from reasonmed.fanout import QUESTIONS, Layout, code_files

configfile: "params.yaml"

PARAMS = config.get("params_file", "params.yaml")
L = Layout(config)  # shard paths carry a digest of everything that shapes them
SHARDS = L.shard_paths()
GENERATE = config["generate"]


def shard_of(w):
    return f"{w.shard}/{L.shards}"


rule generate_shard:
    input:
        questions=QUESTIONS,
        prompt=GENERATE["prompt"],
        code=code_files(),
    output:
        paths="work/generate/{agent}/{key}/{shard}of%d.jsonl" % L.shards,
    params:
        shard=shard_of,
        key=lambda w: L.key(w.agent),  # a rerun trigger too: Snakemake reruns on change
    log:
        "work/generate/logs/{agent}_{key}_{shard}.log",
    shell:
        "python -m stages.generate shard {input.questions} {output.paths} --agent {wildcards.agent}"
        " --shard {params.shard} --params %s 2> {log}" % PARAMS


rule generate_gather:
    input:
        questions=QUESTIONS,
        code=code_files(),
        shards=[p for a in GENERATE["agents"] for p in SHARDS[a]],
    output:
        paths="data/generate/paths.jsonl",
        ledger="data/generate/ledger.json",
        stats="data/generate/stats.json",
    shell:
        "python -m stages.generate gather {input.questions} data/generate --params %s" % PARAMS
