"""The method's steps, one module each, with their params and pure functions (collect,
generation, verification, route, rank, refine, optimize, summarize, assemble, score, sft,
evaluate), what they share (judging, rewriting, the answer readers, statistics, cost), and
the embedded default's tiny models (tinymodels, build). Imports core, llm, ingest."""
