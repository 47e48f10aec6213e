# linli — the two commands: `make run` (service on the embedded default) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run run-postgres test test-deploy bench services clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# API + worker + scheduler in the foreground on SQLite (var/linli.db); Ctrl-C stops all.
run: setup
	bash scripts/ensure-packages.sh fonts-wqy-microhei
	bash scripts/ensure-redis.sh
	$(BIN)/linli db upgrade
	$(BIN)/linli seed-demo
	$(BIN)/linli dev --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

# The same on PostgreSQL (production's database): a local cluster under var/postgres, started the
# way the tests start theirs and kept between runs (scripts/ensure-postgres.sh; port LINLI_PG_PORT).
run-postgres: setup
	bash scripts/ensure-packages.sh fonts-wqy-microhei postgresql
	bash scripts/ensure-redis.sh
	export LINLI_DATABASE_URL=$$(bash scripts/ensure-postgres.sh) && \
	  $(BIN)/linli db upgrade && $(BIN)/linli seed-demo && \
	  $(BIN)/linli dev --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

# The suite starts its own redis-server and throwaway PostgreSQL cluster; it only needs them installed.
test: setup
	bash scripts/ensure-packages.sh redis-server postgresql chromium fonts-wqy-microhei
	$(BIN)/python -m pytest -n $${TEST_WORKERS:-2} -q $(PYTEST_ARGS)

bench: setup
	bash scripts/ensure-packages.sh redis-server wrk postgresql
	$(BIN)/python bench/nearby.py
	$(BIN)/python bench/manifest.py
	$(BIN)/python bench/flashsale.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/timers.py

clean:
	rm -rf $(VENV) var .pytest_cache
