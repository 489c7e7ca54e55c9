# Two commands for a new machine:  `make app` starts the classroom app, `make test` runs lint and every test
# (`make class` starts it for a whole class: a students' link and a teacher's).
# Each creates .venv on first use and installs what it needs (a CPU torch first, so nothing pulls CUDA).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: app class test bench

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) bash scripts/setup.sh
	touch $(STAMP)

app: $(STAMP)
	$(BIN)/explorer app

class: $(STAMP)
	$(BIN)/explorer class

test: $(STAMP)
	bash scripts/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q -d site
	$(BIN)/python -m pytest -q --durations=15  # the slowest tests named: the suite must stay under 16 minutes on 2 cores

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/cell_speed.py
	$(BIN)/python benchmarks/live_overhead.py
	$(BIN)/python benchmarks/workers.py
	$(BIN)/python benchmarks/store_load.py
	$(BIN)/python benchmarks/sweep_speed.py
	$(BIN)/python benchmarks/meter_cost.py
	$(BIN)/python benchmarks/lessons_over_seeds.py
