# Every target creates what it needs from nothing; `make test` and `make demo` are safe on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA ?= data/synthetic_rgbd
WORK ?= work_dirs/demo
WHEELHOUSE ?= wheelhouse
# test workers: one per core (2 on the CI machine); a test file stays in one worker
TEST_WORKERS ?= 2

.PHONY: install test demo data clean gpu-wheels

install: $(STAMP)

$(STAMP): setup.py requirements/runtime.txt requirements/tests.txt requirements/optional.txt requirements/lock-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/lock-cpu.txt \
		-r requirements/runtime.txt -r requirements/tests.txt -r requirements/optional.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

data: install
	$(PY) tools/data/generate_synthetic_rgbd.py $(DATA)

demo: install
	bash tools/demo.sh $(DATA) $(WORK)

# Wheels for a GPU machine without network (requirements/lock-gpu.txt + the project); see tools/benchmark/gpu_check.py
gpu-wheels: install
	$(PY) tools/benchmark/gpu_wheels.py $(WHEELHOUSE)

clean:
	rm -rf $(VENV) work_dirs build *.egg-info
