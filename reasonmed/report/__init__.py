"""Reports: tables, figures and the dataset explorer. Imports core, llm, ingest, method."""
