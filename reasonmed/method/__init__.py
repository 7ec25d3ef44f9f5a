"""The method's steps, one module each, with their params and pure functions: generation,
verification, judging, rewriting, answers, statistics, cost. Imports core, llm, ingest."""
