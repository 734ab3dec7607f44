# The README's two commands: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test docs demo bench geometry vq-story clean

# Debian's chromium + chromium-driver for the browser tests (tests/apps/test_explore.py), installed
# alongside the Python packages; where apt-get cannot run, a note says so and those tests are skipped.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
BROWSER_PKGS := chromium chromium-driver

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	( command -v chromium >/dev/null && command -v chromedriver >/dev/null ) || \
	  ( $(SUDO) apt-get install -y -q $(BROWSER_PKGS) > $(VENV)/apt-browser.log 2>&1 || \
	    echo "note: apt-get could not install $(BROWSER_PKGS) (see $(VENV)/apt-browser.log): the browser tests will be skipped" ) & \
	$(PY) -m pip install -q --upgrade pip && \
	$(PY) -m pip install -q -c constraints.txt -e '.[test,plot,photos,docs]'; status=$$?; wait; exit $$status
	touch $(STAMP)

setup: $(STAMP)

# two workers on two cores, one thread each (torch, OpenMP, numpy's OpenBLAS, and every process a test
# starts): a second thread per worker only oversubscribes the cores (OpenMP and OpenBLAS spin-wait)
TEST_THREADS := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: $(STAMP)
	$(TEST_THREADS) $(PY) -m pytest -q -n 2 --dist worksteal

# the documentation site (mkdocs.yml): docs/ + the API reference + the explorer, into site/; --strict:
# a broken link, reference or docstring fails the build (CI runs it after the tests)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -q

demo: $(STAMP)
	$(VENV)/bin/npq demo

bench: $(STAMP)
	$(PY) -m pytest -q -m slow tests/lattices/test_leech.py   # the long exactness checks (all 196,560 codewords, 25x inputs)
	$(PY) benchmarks/bench_leech.py --repeats 3
	$(PY) benchmarks/bench_lattices.py --batch 8192 --repeats 5
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_codec.py --prior neural --model default_leech_f8
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_priors.py --priors uniform context neural
	OMP_NUM_THREADS=1 $(PY) benchmarks/bench_generation.py
	$(PY) benchmarks/bench_memory.py --megapixels 24 --out bench_out/memory_24.json   # peak RSS of compress / decompress (target 1.5 GB)

# regenerate docs/geometry.md (grand tableau + figures) and the VQ story (docs/figures/vq_story.*)
geometry: $(STAMP)
	$(PY) scripts/geometry_docs.py

vq-story: $(STAMP)
	$(PY) benchmarks/vq_story.py --out docs

clean:
	rm -rf $(VENV) demo_out bench_out site
