# Developer verbs. `make run` and `make test` are the README's quick start.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run` needs only the package and the example app's three libraries, not the test
# tools (Playwright, hypothesis...): a first `make run` installs less.
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test test-fast test-tools lint fmt bench bench-compare bench-tools messages clean

$(STAMP): pyproject.toml clients/example-rp.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]' -r clients/example-rp.txt
	touch $(STAMP) $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml clients/example-rp.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e . -r clients/example-rp.txt
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/idp dev

test: $(STAMP) test-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast lane, for the edit-test loop: what needs no browser, no Node.js, no Apache and no
# PostgreSQL, and nothing marked slow (markers in pyproject.toml), on SQLite. Under a minute;
# on every core when pytest-xdist is installed. `make test` runs everything.
FAST := not browser and not interop and not postgres and not slow
test-fast: $(STAMP)
	IDP_TEST_DATABASE_URL= $(BIN)/python -m pytest -q -m "$(FAST)" \
	  $$($(BIN)/python -c 'import xdist' 2>/dev/null && echo "-n auto") $(PYTEST_ARGS)

# The browser tests drive Debian's chromium (with a Japanese font, so that the screenshots of
# the Japanese pages show text); the interop tests run openid-client on Node.js and Apache with
# mod_auth_openidc.
# Installed with apt-get when missing (as root), else the command to run is printed.
test-tools:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	test -x /usr/sbin/apache2 || missing="$$missing apache2"; \
	test -e /usr/lib/apache2/modules/mod_auth_openidc.so || missing="$$missing libapache2-mod-auth-openidc"; \
	fc-list :lang=ja 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "the tests need:$$missing  (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# In-process figures (Flask's test client, SQLite).
bench: $(STAMP)
	$(BIN)/python -m idp.bench

# `idp serve` on PostgreSQL (database bench_idp, created and dropped) against oidc-provider 9
# from bench/oidc-provider's lockfile, over HTTP with wrk, alternating rounds, with ratios.
# About 4 minutes with the defaults; BENCH_ARGS="--rounds 5 --seconds 10" for steadier figures.
bench-compare: $(STAMP) bench-tools bench/oidc-provider/node_modules/.package-lock.json
	$(BIN)/python -m idp.bench.compare $(BENCH_ARGS)

bench/oidc-provider/node_modules/.package-lock.json: bench/oidc-provider/package-lock.json
	cd bench/oidc-provider && npm ci --no-audit --no-fund

# wrk (the load generator) from Debian's packages, installed when missing (as root).
bench-tools:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk; \
	  else echo "make bench-compare needs wrk (sudo apt-get install wrk)"; exit 1; fi; }
	@command -v node >/dev/null || { echo "make bench-compare needs Node.js 20+ and npm"; exit 1; }

# Translations (SPEC section 8): extract the strings, update idp/translations/*/messages.po,
# compile the .mo files that are committed beside them. Translate, then run it again.
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k NC_:1c,2 --no-location --sort-output \
	  --project idp --copyright-holder "idp authors" -o idp/translations/messages.pot .
	$(BIN)/pybabel -q update -i idp/translations/messages.pot -d idp/translations \
	  --no-fuzzy-matching --ignore-obsolete --no-wrap --ignore-pot-creation-date
	$(BIN)/pybabel -q compile -d idp/translations
	rm idp/translations/messages.pot

clean:
	rm -rf $(VENV) instance .pytest_cache
