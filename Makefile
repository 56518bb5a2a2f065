# popgate: build, test and demo entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
.PHONY: deps build test demo clean

# The toolchain lives outside the default PATH on these machines (CI runs without a login shell).
export PATH := /opt/swift/usr/bin:$(PATH)

PYTHON ?= python3
SWIFT ?= swift

# Debian packages: the C libraries the package links, the WireGuard userspace tools the daemons and the
# integration tests drive, and the tools the demo and the tests use in the namespaces (prometheus: only
# for promtool, which checks popgated's metrics text).
APT_PACKAGES := libmnl-dev libnftnl-dev libsodium-dev libsqlite3-dev pkg-config \
	nftables wireguard-go wireguard-tools iproute2 curl tcpdump prometheus openssl

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
		$(PYTHON) -m pip install -q -r Tests/IntegrationTests/requirements.txt

# One build for the products and the test bundles, so `swift test --skip-build` finds everything.
build:
	$(SWIFT) build --build-tests

# Both suites always run; the target fails if either failed.
test: deps build
	@unit=0; integration=0; \
	$(SWIFT) test --skip-build || unit=$$?; \
	$(PYTHON) -m pytest -v Tests/IntegrationTests || integration=$$?; \
	if [ "$$unit" -ne 0 ] || [ "$$integration" -ne 0 ]; then \
		echo "make test: FAILED (swift test exit $$unit, integration tests exit $$integration)" >&2; exit 1; \
	fi

demo: deps
	$(SWIFT) build
	bash provisioning/demo.sh all

clean:
	-bash provisioning/demo.sh down
	$(SWIFT) package clean
	rm -rf Tests/IntegrationTests/__pycache__ Tests/IntegrationTests/.pytest_cache .pytest_cache
