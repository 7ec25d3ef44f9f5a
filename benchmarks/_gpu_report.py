"""reports/gpu.md from the GPU check's results (benchmarks/gpu_check.py): the figures' table,
what a GPU rebuild reproduces (written from part 5), the run facts and each part's argument
objects.

    python -c "from benchmarks._gpu_report import render; print(render({}, {}))"
"""

import json

TITLES = {1: "generate on vLLM: project path vs bare engine; prefix caching",
          2: "verify with guided JSON (the verifier's schema) on vLLM",
          3: "SFT tokens/s and peak GPU memory: TRL defaults vs padding-free / packing / Liger",
          4: "`accelerate launch` with configs/accelerate/deepspeed_zero3.yaml on one GPU",
          5: "GPU SFT checkpoint reproducibility (deterministic algorithms or not)",
          6: "GRPO steps through the rl stage's path (vLLM colocated when installed)"}
SAME = ("a GPU rebuild with these switches reproduces the checkpoint bytes on the same GPU "
        "model and software")
DIFFERENT = "does not; `dvc pull` gets the exact checkpoint"


def rebuild_paragraph(r5: dict | None) -> str:
    """What a GPU rebuild reproduces, from part 5's result (None: part 5 not chosen)."""
    switches = ("`torch.use_deterministic_algorithms(True)` and "
                "`CUBLAS_WORKSPACE_CONFIG=:4096:8`")
    if not r5 or r5.get("same_bytes") is None:
        status = (r5 or {}).get("error") or (r5 or {}).get("status") or "not chosen"
        return (f"Not measured yet (part 5: {status}). Exact bytes can be expected only on the same GPU "
                f"model, driver and library versions with {switches}; otherwise `dvc pull` is how "
                "to get the exact checkpoint.")
    if r5["same_bytes"]:
        text = f"Two identical SFT runs with {switches} saved the same bytes: {SAME}."
    else:
        text = (f"Two identical SFT runs with {switches} saved different bytes, so a GPU rebuild "
                f"with these switches {DIFFERENT}.")
    default = r5.get("default_same_bytes")
    if default is not None:
        text += (" Without them the two runs saved " + ("the same" if default else "different")
                 + " bytes.")
    return text + (" Another GPU model, driver or library version is not covered by this check; "
                   "there `dvc pull` is how to get the exact checkpoint.")


def cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def render(meta: dict, results: dict[int, dict]) -> str:
    out = ["# GPU check", "",
           "Written by `scripts/gpu-check.sh` (benchmarks/gpu_check.py): one GPU, about 8 "
           "minutes, no downloads; a random-weight Qwen2-shaped model built from a config. "
           "Each part runs under its own time box; a failed part shows its error here.", ""]
    if meta:
        out += [f"- mode: {meta.get('mode')}; device: {meta.get('device')}",
                f"- model: Qwen2-shaped, {meta.get('parameters', 0):,} parameters "
                f"({meta.get('size')}): `{json.dumps(meta.get('model config', {}))}`",
                f"- sizes: `{json.dumps(meta.get('sizes', {}))}`",
                "- versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()),
                f"- command: `{meta.get('command')}`", ""]
    out += ["| part | what | figure | target | met | seconds |", "|---|---|---|---|---|---|"]
    for n in sorted(TITLES):
        r = results.get(n)
        if r is None:
            out.append(f"| {n} | {TITLES[n]} | not chosen (--only) | | | |")
            continue
        figure = r.get("figure") or (f"error: {r['error']}" if r.get("error") else r["status"])
        met = {True: "yes", False: "no"}.get(r.get("met"), "")
        out.append(f"| {n} | {TITLES[n]} | {cell(figure)} | {cell(r.get('target', ''))} | {met} "
                   f"| {r.get('seconds', '')} |")
    out += ["", "## What a GPU rebuild reproduces", "", rebuild_paragraph(results.get(5)), ""]
    for n in sorted(results):
        r = results[n]
        out += [f"## Part {n}: {TITLES[n]}", "", f"Status: {r['status']}."]
        if r.get("error"):
            out.append(f"Error: `{r['error']}`")
        for key in ("details", "plan"):
            if r.get(key):
                name = "Figures" if key == "details" else "Argument objects"
                out += ["", f"{name}:", "", "```json", json.dumps(r[key], indent=1, default=str),
                        "```"]
        out.append("")
    return "\n".join(out)
