# The two entry points (README): `make book` builds the book offline, `make test` runs the tests.
# Both create the virtual environment .venv when it is missing and install the project into it.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= offline
DATASET ?= fashion-mnist
DEVICE  ?= auto

.PHONY: book test venv browser-deps data-deps clean-book

# constraints.txt pins every package, so even the pip bundled with Python 3.11 resolves in one pass.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[book,test]'
	touch $@

venv: $(VENV)/.installed

# Headless Chromium for the browser test (Debian packages); skipped when already present.
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

# Fashion-MNIST's IDX files from Debian's package (no download: the offline data set); skipped when present.
FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
data-deps:
	@test -f $(FASHION_MNIST) || \
	  { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }

book: $(VENV)/.installed data-deps
	$(PY) -m semirobust.pipeline.book --profile $(PROFILE) --dataset $(DATASET) --device $(DEVICE)

test: $(VENV)/.installed browser-deps data-deps
	$(PY) -m pytest tests -p no:cacheprovider -n 2 --dist loadfile

clean-book:
	rm -rf book/_build book/results/figures
