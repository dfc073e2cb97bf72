# printd — setup, demonstration, tests and benchmarks.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the suite and the real transports need (grows with CUPS, PostgreSQL...); pyscard builds
# from source against libpcsclite with swig, and the PC/SC tests run pcscd with the vpcd virtual reader.
DEBIAN_PACKAGES := libusb-1.0-0 sqlite3 cups-daemon cups-client libcups2-dev systemd procps passwd poppler-utils fonts-dejavu-core postgresql chromium chromium-driver \
	pcscd vsmartcard-vpcd libpcsclite-dev swig \
	dpkg-dev lintian systemd-container mmdebstrap
# The suite builds the Debian package (make deb: dpkg-dev, and debian/control's Build-Depends, installed by
# deb-build-deps), checks it with lintian and boots a systemd container (systemd-nspawn) on a minimal Debian root
# (mmdebstrap) to install it in.

LOCALE := printd/locale
CATALOGS := $(LOCALE)/id/LC_MESSAGES/printd.mo

.PHONY: setup system-packages locale locale-extract run test test-quick lint typecheck bench crash-campaign clean deb \
	deb-package deb-build-deps deb-requirements

setup: system-packages $(STAMP) locale

system-packages:
	@if [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    echo "installing Debian packages:$$missing"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# The catalogs are compiled here, at build; only the .po sources are in git.
locale: $(CATALOGS)

$(LOCALE)/%/LC_MESSAGES/printd.mo: $(LOCALE)/%/LC_MESSAGES/printd.po $(STAMP)
	$(BIN)/pybabel compile -D printd -d $(LOCALE) -l $*

# After marking new messages: extract them and merge them into each catalog, then translate what is new.
locale-extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --project=printd --version=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) --no-location --sort-output -o $(LOCALE)/printd.pot .
	$(BIN)/pybabel update -D printd -d $(LOCALE) -i $(LOCALE)/printd.pot --no-fuzzy-matching --ignore-obsolete

run: setup
	$(BIN)/python -m printd.demo --config config/printd.toml

lint: setup
	$(BIN)/ruff check printd drivers tests bench
	$(BIN)/ruff format --check printd drivers tests bench

typecheck: setup
	$(BIN)/mypy printd drivers

# pytest-xdist: most tests wait on daemons, simulators and servers, so more workers than cores (on 2 cores, 3 workers
# took as long as 4 and stretched each test less).
# Each worker runs whole modules in their order (a module's daemon or cluster is made once, as in a serial run) and
# starts its own private cupsd, PostgreSQL cluster and pcscd. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 3
PYTEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)

test: setup deb-build-deps lint typecheck
	$(BIN)/pytest -q --durations=15 $(PYTEST_PARALLEL)

# Everything but the scenarios marked slow; CI runs 'make test'.
test-quick: setup
	$(BIN)/pytest -q -m "not slow" $(PYTEST_PARALLEL)

# bench/stations.py runs real stations on a throwaway PostgreSQL cluster: about 35 minutes on 2 cores.
bench: setup
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/import_status.py
	$(BIN)/python bench/panels.py
	$(BIN)/python bench/vs_cups.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/stations.py
	$(BIN)/python bench/web.py

# The long SIGKILL campaign (about 5 minutes on 2 cores), then stations on a throwaway PostgreSQL cluster with their
# daemons killed and the server restarted under them (about 3 minutes); the test suite runs short ones.
crash-campaign: setup
	$(BIN)/python bench/crash_campaign.py --kills 1000
	$(BIN)/python bench/crash_campaign.py --postgres

# The Debian package, dist/printd_VERSION_ARCH.deb (debian/): built from a copy of the tree (the files git tracks
# or would track, uncommitted changes included) under build/deb, then checked by lintian.
DEB_VERSION = $(shell dpkg-parsechangelog -l debian/changelog -S Version)
DEB_SOURCE = build/deb/printd-$(DEB_VERSION)
deb: deb-package
	lintian --fail-on error dist/printd_$(DEB_VERSION)_*.deb

# The package alone (the suite's container test runs lintian on it beside its scenarios).
deb-package: system-packages deb-build-deps
	rm -rf build/deb && mkdir -p $(DEB_SOURCE) dist
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(DEB_SOURCE)
	cd $(DEB_SOURCE) && dpkg-buildpackage --build=binary --no-sign
	mv build/deb/printd_$(DEB_VERSION)_*.deb dist/

deb-build-deps: system-packages
	@dpkg-checkbuilddeps 2>/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "installing the Debian package's Build-Depends"; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get build-dep -y -qq ./; }

# After a change of dependencies in pyproject.toml (and make setup): pin what the suite ran on for the package.
deb-requirements: setup
	$(BIN)/python debian/pin-requirements

clean:
	rm -rf $(VENV) var build dist *.egg-info .mypy_cache .pytest_cache .ruff_cache
