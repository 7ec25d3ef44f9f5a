"""The LLM layer: one client (client.py) over the hf, vllm and openai backends, their shared
types (types.py), the request cache, seeded sampling, the compute fingerprint and the tiny
local models. Imports only reasonmed.core."""
