"""optimize: new deep CoTs for difficult-tier questions from the strongest model, re-verified.

Writes chosen.jsonl (`n_per_question` `Chosen(origin="optimized")` per difficult question),
ledger.json, stats.json and metrics.json. The step is reasonmed/method/optimize.py; the stage
it shares with refine is reasonmed/method/rewriting.py (`main`).

    python -m stages.optimize data/collect/questions.jsonl data/generate/paths.jsonl \\
        data/route/routes.jsonl data/optimize
"""

from functools import partial

from reasonmed.core.stage import entry
from reasonmed.method import rewriting
from reasonmed.method.optimize import STEP

main = partial(rewriting.main, STEP)

if __name__ == "__main__":
    entry(main)
