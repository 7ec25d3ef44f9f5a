# Fan-out inside the DVC stage `generate` only: {agent} x {shard} jobs, then gather.
# DVC owns the edges between method steps; this file never encodes one. Run by
#   python -m stages.generate fanout <questions> <out>   (dvc.yaml's cmd; options from exec.generate)
# which calls snakemake with --nolock --rerun-incomplete (reasonmed/ops/fanout.py fan_out), and on
# a cluster with a profile (exec.generate.snakemake: --profile configs/slurm; see README).
from reasonmed.ops.fanout import QUESTIONS as DEFAULT_QUESTIONS, Layout, code_files
from reasonmed.ops.slurm import JobResources
from reasonmed.core.params import read_params

configfile: "params.yaml"

PARAMS = config.get("params_file", "params.yaml")
# The stage's input and output folder, as dvc.yaml's cmd names them (fan_out passes them on).
QUESTIONS = config.get("questions", DEFAULT_QUESTIONS)
OUT = config.get("out", "data/generate")
# The params as the stages read them (YAML 1.2, like DVC), not Snakemake's `config`
# (PyYAML's YAML 1.1), so both sides compute the same shard digests.
P = read_params(PARAMS)
L = Layout(P, questions=QUESTIONS)  # shard paths carry a digest of everything that shapes them
SHARDS = L.shard_paths()
GENERATE = P["generate"]
R = JobResources(P)  # threads, GPUs, memory, time per job, from the agent's model (reasonmed/ops/slurm.py)
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
        paths=f"{OUT}/paths.jsonl",
        ledger=f"{OUT}/ledger.json",
        stats=f"{OUT}/stats.json",
    log:
        "work/generate/logs/gather.log",
    threads: R.gather_threads()
    resources:
        **R.gather(),
    conda:
        ENV
    shell:
        "python -m stages.generate gather {input.questions} %s --params %s 2> {log}" % (OUT, PARAMS)
