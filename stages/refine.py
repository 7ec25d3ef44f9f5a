"""refine: rewrite each ranked medium-tier CoT with the verifier's reasons, then re-verify it.

Writes chosen.jsonl (one `Chosen(origin="refined")` per ranked medium CoT), ledger.json,
stats.json and metrics.json. The step is reasonmed/method/refine.py; the stage it shares with
optimize is reasonmed/method/rewriting.py (`main`).

    python -m stages.refine data/collect/questions.jsonl data/route/routes.jsonl \\
        data/rank/chosen.jsonl data/refine
"""

from functools import partial

from reasonmed.core.stage import entry
from reasonmed.method import rewriting
from reasonmed.method.refine import STEP

main = partial(rewriting.main, STEP)

if __name__ == "__main__":
    entry(main)
