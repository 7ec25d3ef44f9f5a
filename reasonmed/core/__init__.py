"""The base layer: records and their streams, params, the stage tail, errors, seeds, prompt
rendering and the import closure. Imports nothing else of the project."""
