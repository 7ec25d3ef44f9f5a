"""Loaders: question sources in every format (specs, sanitize, mapping, readers, recover,
load), the evaluation benchmarks and external datasets (entries: their stages' shared body).
Imports reasonmed.core."""
