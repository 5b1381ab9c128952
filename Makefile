# The two commands: `make run` (whole workflow on the demo data) and `make test`.
# Both create .venv with the Python found on PATH (3.11+) and install the exact versions of
# envs/*.lock.txt into it (uv, itself pinned, does the installing; `make lock` updates the locks).
# `make test-latest` runs the tests again on the newest releases (Python 3.13, no lock).

PYTHON        ?= python3
# pyenv's shims refuse a version that is not selected: use pyenv's 3.13 directly where it has one.
LATEST_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
CORES         ?= all
CONFIG        ?=
UV_VERSION    := 0.13.10
VENV          := .venv
BIN           := $(VENV)/bin
LATEST        := .venv-latest
LOCK_PYTHON   := 3.11
LOCK_EXTRAS   := --extra test --extra slurm --extra lint
# A config of your own (`make run CONFIG=my.yaml`) is given to the run and to the report alike.
SNAKE_CONFIG  := $(if $(CONFIG),--configfile $(CONFIG))
PYTEST        := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
	MPLBACKEND=Agg python -m pytest -n 3 --dist loadgroup --durations=25

.PHONY: run test test-latest report lint lock clean

# $(1): the venv; $(2): the Python that creates it. uv installs into it from there on.
define make_venv
	$(2) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ needed ($(2))"; exit 1; }
	$(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
endef

$(BIN)/python:
	$(call make_venv,$(VENV),$(PYTHON))

# Stamps re-install when a lock or pyproject.toml changes.
$(VENV)/.installed: envs/run.lock.txt pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r envs/run.lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

$(VENV)/.installed-test: envs/test.lock.txt pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r envs/test.lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) $(SNAKE_CONFIG)
	$(BIN)/snakemake --report results/report.html $(SNAKE_CONFIG)

report: $(VENV)/.installed
	$(BIN)/snakemake --report results/report.html $(SNAKE_CONFIG)

# Three test workers on two cores, each with single-threaded BLAS/OpenMP/numba: one is often
# waiting (a SLURM job, a Snakemake job starting), and the third keeps both cores busy then.
test: $(VENV)/.installed-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(PYTEST)

# The newest releases of everything on Python 3.13 (resolved afresh each time, not locked).
# The tests marked `once` run in `make test` only: the SLURM test (`hpc`: it starts a scheduler),
# the Snakemake runs other than the tiny workflow's (tests/workflow/test_snakemake.py: artifacts,
# reruns, same results on 1 and 2 cores, report) and the benchmark harness. One pytest run, so
# the tiny workflow's tests overlap the others.
$(LATEST)/bin/python:
	$(call make_venv,$(LATEST),$(LATEST_PYTHON))

test-latest: | $(LATEST)/bin/python
	$(LATEST)/bin/uv pip install --quiet --python $(LATEST)/bin/python --upgrade -e '.[test,slurm]'
	PATH="$(CURDIR)/$(LATEST)/bin:$$PATH" $(PYTEST) -m "not hpc and not once"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	cd $(CURDIR) && $(BIN)/snakemake --lint --cores 1

# Re-resolve the locks: the newest releases that run on Python $(LOCK_PYTHON), pinned for every
# Python and platform (the first pass finds them, the second writes a lock valid everywhere).
lock: | $(BIN)/python
	$(BIN)/uv pip compile --quiet --upgrade --python-version $(LOCK_PYTHON) --python-platform x86_64-manylinux_2_28 \
		--no-header --no-annotate pyproject.toml $(LOCK_EXTRAS) -o envs/.pins.txt
	$(BIN)/uv pip compile --quiet --universal --python-version $(LOCK_PYTHON) --no-header \
		pyproject.toml $(LOCK_EXTRAS) -c envs/.pins.txt -o envs/test.lock.txt
	$(BIN)/uv pip compile --quiet --universal --python-version $(LOCK_PYTHON) --no-header \
		pyproject.toml --extra workflow --extra de -c envs/test.lock.txt -o envs/run.lock.txt
	rm envs/.pins.txt
	$(BIN)/python envs/conda_env.py envs/run.lock.txt > envs/scsnake.yaml

clean:
	rm -rf results logs .snakemake
