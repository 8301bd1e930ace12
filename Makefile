# Every target creates .venv when it is missing. TORCH picks the torch build: the default
# matches a CPU wheel; set TORCH='torch' (or another pin) to let pip choose.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := $(VENV)/constraints.txt

.PHONY: venv demo test lint bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	# Pin whatever torch was installed so later installs never swap it for another build.
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__)" > $(CONSTRAINTS)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

demo: venv
	$(BIN)/lamina demo

test: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/adult.py
	$(BIN)/python bench/small_tables.py
	$(BIN)/python bench/scoreboard.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/insight.py
	$(BIN)/python bench/fashion_mnist.py
	$(BIN)/python bench/sst2.py
	$(BIN)/python bench/fsdd.py
	$(BIN)/python bench/spoken_digits.py
	$(BIN)/python bench/forecasting.py
	$(BIN)/python bench/movielens.py
	$(BIN)/python bench/fashion_gan.py
	$(BIN)/python bench/fraud.py
	$(BIN)/python bench/esol.py
	$(BIN)/python bench/multi30k.py
	$(BIN)/python bench/tox21.py
	$(BIN)/python bench/tune_adult.py
	$(BIN)/python bench/federated_adult.py
	$(BIN)/python bench/privacy_adult.py
	$(BIN)/python bench/ddp_epoch.py

clean:
	rm -rf $(VENV) runs .pytest_cache
