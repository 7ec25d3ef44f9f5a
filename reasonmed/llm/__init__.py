"""The LLM layer: one client (client.py; `python -m reasonmed.llm.client` asks one role) over
the hf, vllm, openai and fake backends, their shared types (types.py), batch plans, the
request cache, seeded sampling and the compute fingerprint. Imports only reasonmed.core."""
