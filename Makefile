# xuanxue — every target sets itself up; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha1(sys.stdin.buffer.read()).hexdigest()[:12])")
DATA   ?= data/sample
MODELS ?= models
HOST   ?= 127.0.0.1
PORT   ?= 8000
DOCS_PORT ?= 8001
REPORT ?= 报告.html

.PHONY: run test lint format bench train sample notebooks report docs docs-serve clean help

help:
	@echo "make run    train on $(DATA) if no model exists, then serve on http://$(HOST):$(PORT)"
	@echo "           (make run PORT=8080 HOST=0.0.0.0 to serve elsewhere; DATA=dir to train on it)"
	@echo "make test   create .venv with dev extras and run the test suite"
	@echo "make docs  build the documentation site into site/ (make docs-serve: http://$(HOST):$(DOCS_PORT))"
	@echo "make report  the planners' notebooks on $(DATA) as one HTML file: $(REPORT)"
	@echo "make lint | format | bench | train | notebooks | clean"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $@

# only the shipped sample is generated; another DATA= directory is the academy's own (never written)
SAMPLE_DATA := $(if $(filter data/sample,$(DATA)),data/sample/courses.csv)

data/sample/courses.csv: | $(STAMP)
	$(PY) -m samplegen --out data/sample --scale small

$(MODELS)/current: | $(STAMP) $(SAMPLE_DATA)
	$(VENV)/bin/recommender train --data $(DATA) --out $(MODELS) --events var/events.sqlite3

run: $(STAMP) $(MODELS)/current
	$(VENV)/bin/recommender serve --model $(MODELS) --host $(HOST) --port $(PORT)

train: $(STAMP)
	$(VENV)/bin/recommender train --data $(DATA) --out $(MODELS) --events var/events.sqlite3

test: $(STAMP)
	@# the console's browser tests drive Debian's headless chromium (+ a CJK font for screenshots)
	@test -x /usr/bin/chromedriver || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei) >/dev/null 2>&1 || echo "chromium not installed: console browser tests skip (and fail under CI=true)"; }
	@# the event-store tests start a throw-away PostgreSQL (initdb/pg_ctl from Debian's postgresql)
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 || echo "postgresql not installed: PostgreSQL tests skip (and fail under CI=true)"; }
	@# the Spark tests run pyspark (the spark extra) on a Java runtime (Debian's default JRE)
	@command -v java >/dev/null || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless) >/dev/null 2>&1 || echo "java not installed: Spark tests skip (and fail under CI=true)"; }
	@$(PY) -c "import pyspark" 2>/dev/null || $(PY) -m pip install --quiet -e ".[spark]"
	@# the slow behind-a-proxy test runs the service behind Debian's nginx
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >/dev/null 2>&1 || echo "nginx not installed: the nginx test skips (and fails under CI=true)"; }
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check recommender service samplegen tests benchmarks
	$(VENV)/bin/ruff format --check recommender service samplegen tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/vulture recommender service samplegen --min-confidence 80

format: $(STAMP)
	$(VENV)/bin/ruff format recommender service samplegen tests benchmarks
	$(VENV)/bin/ruff check --fix recommender service samplegen tests benchmarks

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	@# wrk (Debian) drives the HTTP load test; without it the benchmark uses its httpx client
	@command -v wrk >/dev/null || { (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || echo "wrk not installed: using the httpx load client"; }
	$(PY) -m benchmarks.run_all

notebooks: $(STAMP)
	$(PY) -m pip install --quiet -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/

report: $(STAMP) $(MODELS)/current
	$(VENV)/bin/recommender report --data $(DATA) --model $(MODELS) --out $(REPORT)

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	$(VENV)/bin/mkdocs serve --dev-addr $(HOST):$(DOCS_PORT)

clean:
	rm -rf $(VENV) $(MODELS) site .pytest_cache .ruff_cache
