# Fan-out inside the DVC stage `generate` only: {agent} x {shard} jobs, then gather.
# DVC owns the edges between method steps; this file never encodes one. Run by
#   python -m stages.generate fanout      (dvc.yaml's cmd; options from exec.generate)
# which calls snakemake with --nolock --rerun-incomplete, and on a cluster with a profile
# (exec.generate.snakemake: --profile configs/slurm; see README).
from reasonmed.fanout import QUESTIONS, Layout, code_files
from reasonmed.slurm import JobResources
from reasonmed.params import read_params

configfile: "params.yaml"

PARAMS = config.get("params_file", "params.yaml")
# The params as the stages read them (YAML 1.2, like DVC), not Snakemake's `config`
# (PyYAML's YAML 1.1), so both sides compute the same shard digests.
P = read_params(PARAMS)
L = Layout(P)  # shard paths carry a digest of everything that shapes them
SHARDS = L.shard_paths()
GENERATE = P["generate"]
R = JobResources(P)  # threads, GPUs, memory, time per job, from the agent's model (reasonmed/slurm.py)
# Used only under --software-deployment-method conda; otherwise the rules run in the
# environment that runs Snakemake (the project's .venv).
ENV = "envs/reasonmed.yaml"


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
    threads: lambda w: R.threads(w.agent)
    resources:
        **R.shard_rule(),
    conda:
        ENV
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
    log:
        "work/generate/logs/gather.log",
    threads: R.gather_threads()
    resources:
        **R.gather(),
    conda:
        ENV
    shell:
        "python -m stages.generate gather {input.questions} data/generate --params %s 2> {log}" % PARAMS
