# fileshare: the one entry point. `make lab` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARCH ?= full_ha
# Named labs can coexist (own bridge, subnet, container path); the test tier uses its own.
LAB ?= fileshare
TEST_LAB ?= fstest
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y
HOST_PACKAGES := lxc lxc-templates debootstrap apt-cacher-ng python3-venv iproute2 nftables rsync curl dnsutils \
	cadaver openssl ca-certificates haproxy graphviz

.PHONY: all venv host-deps lint unit render integration check test test-lab test-lab-long test-mini-ha test-full-ha lab lab-scale lab-down clean diagrams

all: check

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

# Host packages for the lab (LXC nodes, the apt cache that plays the internal mirror, real clients).
build/.host-deps: Makefile
	@mkdir -p build
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing host packages: $$missing"; \
		$(APT) update -qq && $(APT) install --no-install-recommends $$missing; fi
	touch $@

host-deps: build/.host-deps

PY_PATHS := _modules _states _runners tools tests formulas

lint: venv
	$(BIN)/ruff check $(PY_PATHS)
	$(BIN)/ruff format --check $(PY_PATHS)
	$(BIN)/salt-lint $$(find formulas orchestrate pillar tests -name '*.sls')

unit: venv
	$(BIN)/pytest -q tests/unit

# host-deps: nft checks the load nodes' rendered rules (in a throw-away network namespace) and the real
# HAProxy runs the rendered app backend on loopback.
render: venv host-deps
	$(BIN)/pytest -q tests/render

integration: venv
	$(BIN)/pytest -q tests/integration

# The fast tiers, for use while coding.
check: lint unit render integration

# The lab tier: all_in_one, the bind9 module's functional tests on a spare lab, then one full_ha
# deployment (14 nodes) shared by the HA checks, the security posture, a canary rolling upgrade under
# load and the fault scenarios, and last mini_ha, redeployed on 3 bare nodes with its lean checks
# (converge, no-op second run, service through the VIP, the VIP holder killed under load), in that
# order (tests/lab/conftest.py MODULE_ORDER). Each module's time is printed as it ends ([lab clock]).
test-lab: venv host-deps
	$(BIN)/pytest -q tests/lab -m "not long" --lab-name $(TEST_LAB) --durations=15

# The lab scenarios marked long: a lean check of the same path is in test-lab (keeps make test
# under its time budget); run them before resolving a change to what they cover.
test-lab-long: venv host-deps
	$(BIN)/pytest -q tests/lab -m long --lab-name $(TEST_LAB)

test-mini-ha: venv host-deps
	$(BIN)/pytest -q tests/lab/test_mini_ha.py --lab-name $(TEST_LAB)

# The full_ha group alone (what a change to the HA layers needs).
test-full-ha: venv host-deps
	$(BIN)/pytest -q tests/lab/test_full_ha.py tests/lab/test_security.py --lab-name $(TEST_LAB)

# An upgrade under light load (zero failed requests asserted), then the fault scenarios, on full_ha.
test-rolling-upgrade: venv host-deps
	$(BIN)/pytest -q tests/lab/test_rolling_upgrade.py --lab-name $(TEST_LAB)

test-faults: venv host-deps
	$(BIN)/pytest -q tests/lab/test_faults.py --lab-name $(TEST_LAB)

# Every tier. CI (.ci/run) runs exactly this.
test: check test-lab

# The fault scenarios of issue 6 under client load on a converged full_ha lab (LAB); writes
# build/bench/faults.json and faults.md (docs/faults.md); exits 1 when a scenario's check failed.
.PHONY: bench-faults
bench-faults: venv
	$(BIN)/fileshare-bench faults --lab $(LAB)

# The same release upgrade under client load through the VIP, naive (every node at once) and
# fileshare.rolling_upgrade, on a converged full_ha lab (LAB); writes build/bench/rolling_upgrade.json,
# .md and .png (docs/rolling-upgrade.md); exits 1 when the rolling upgrade failed a request.
.PHONY: bench-rolling
bench-rolling: venv
	$(BIN)/fileshare-bench rolling --lab $(LAB)

# Real clients (database writers, a Redis writer, a WebDAV client) through the VIP while each layer's
# primary is killed, partitioned, frozen or moved on purpose, ROUNDS times, on a converged full_ha lab
# (LAB); writes build/bench/failover.json and .md (docs/faults.md); exits 1 when a goal is missed.
ROUNDS ?= 3
.PHONY: bench-failover
bench-failover: venv
	$(BIN)/fileshare-bench failover --lab $(LAB) --rounds $(ROUNDS) $(if $(ONLY),--only $(ONLY))

# The disaster drill on a converged full_ha lab (LAB): MIB of files and rows, a backup under load,
# every database node and the volume's data emptied, a full restore; writes build/bench/backup.json
# and .md (docs/backup.md); exits 1 when a target is missed.
MIB ?= 1024
.PHONY: bench-backup
bench-backup: venv
	$(BIN)/fileshare-bench backup --lab $(LAB) --mib $(MIB)

# The example site's diagrams in docs/images (README), from its pillar: after a change to it.
diagrams: venv host-deps
	cd tests/render && ../../$(BIN)/python site_diagrams.py

# Bring up the example site's nodes for ARCH and run its orchestration; prints how to reach it.
lab: venv host-deps
	$(BIN)/fileshare-lab --lab $(LAB) up $(ARCH)
	$(BIN)/fileshare-lab --lab $(LAB) converge $(ARCH)

# The scale run (issue 13): full_ha with APP_NODES app nodes (default 6) in its own lab, converged and
# re-run like `make lab`; compare build/lab/full_ha/report.json with the 14-node site's.
APP_NODES ?= 6
lab-scale: venv host-deps
	$(BIN)/fileshare-lab --lab fsscale --app-nodes $(APP_NODES) up full_ha
	$(BIN)/fileshare-lab --lab fsscale converge full_ha

lab-down: venv
	$(BIN)/fileshare-lab --lab $(LAB) down

clean:
	rm -rf build .pytest_cache
