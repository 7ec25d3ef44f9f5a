"""Model backends behind reasonmed.llm: hf (transformers), vllm (offline engine), openai
(any OpenAI-compatible server), fake (no model: deterministic replies)."""
