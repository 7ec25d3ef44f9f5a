# Fan-out inside the DVC stage `generate` only: {agent} x {shard} jobs, then gather.
# DVC owns the edges between method steps; this file never encodes one. Run by dvc.yaml as
#   snakemake --cores N --allowed-rules generate_shard generate_gather -- data/generate/paths.jsonl
# and on a cluster with a profile: --profile configs/slurm (see README).
import os

configfile: "params.yaml"

G = config["generate"]
WORK = "work/generate"  # Snakemake-private shard files (gitignored, not DVC outs)
QUESTIONS = "data/collect/questions.jsonl"


def local_model(wildcards):
    # A locally built model is an input (rebuilt model -> rerun); a hub id or API model is not.
    path = config["models"][wildcards.agent]["model"]
    return [path] if os.path.exists(path) else []


rule generate_shard:
    input:
        questions=QUESTIONS,
        model=local_model,
    output:
        paths=f"{WORK}/{{agent}}/{{shard}}.jsonl",
        ledger=f"{WORK}/{{agent}}/{{shard}}.ledger.json",
    params:
        generate=G,
        spec=lambda w: config["models"][w.agent],
        run=config["run"],
        n=G["shards"],
    resources:
        gpus=lambda w: int(config["models"][w.agent].get("options", {}).get("tensor_parallel_size", 0)),
    log:
        f"{WORK}/logs/{{agent}}_{{shard}}.log",
    shell:
        "python -m stages.generate shard {input.questions} {output.paths}"
        " --agent {wildcards.agent} --shard {wildcards.shard}/{params.n} 2> {log}"


rule generate_gather:
    input:
        questions=QUESTIONS,
        shards=expand(f"{WORK}/{{agent}}/{{shard}}.jsonl", agent=G["agents"], shard=range(G["shards"])),
    output:
        paths="data/generate/paths.jsonl",
        ledger="data/generate/ledger.json",
        stats="data/generate/stats.json",
    shell:
        "python -m stages.generate gather {input.questions} data/generate --work {WORK}"
