"""`python -m reasonmed.llm` is `python -m reasonmed.llm.client`: ask one role of params.yaml,
print the reply and one summary line (`--json` for the whole record).

    python -m reasonmed.llm verifier "Is aspirin an NSAID?" --max-tokens 16
"""

from reasonmed.llm.client import main

main()
