"""python -m reasonmed.llm verifier "Say hello" --max-tokens 16"""

from reasonmed.llm.client import main

main()
