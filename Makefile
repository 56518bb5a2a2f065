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
# integration tests drive, and the tools the demo and the tests use in the namespaces (tcpdump for the
# silent-close captures, openssl for the TLS test's certificates).
APT_PACKAGES := libmnl-dev libnftnl-dev libsodium-dev libsqlite3-dev pkg-config \
	nftables wireguard-go wireguard-tools iproute2 curl tcpdump openssl

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
	@# promtool (test_metrics.py) comes out of Debian's prometheus package without installing it: an
	@# installed package would start a Prometheus server on this machine.
	@if ! command -v promtool >/dev/null; then \
		echo "installing: promtool (from Debian's prometheus package, unpacked to /usr/local/bin)"; \
		tmp="$$(mktemp -d)"; \
		(cd "$$tmp" && apt-get -o APT::Sandbox::User=root download -qq prometheus >/dev/null) || { apt-get update -qq && (cd "$$tmp" && apt-get -o APT::Sandbox::User=root download -qq prometheus >/dev/null); }; \
		dpkg-deb -x "$$tmp"/prometheus_*.deb "$$tmp/root"; \
		install -m 0755 "$$tmp/root/usr/bin/promtool" /usr/local/bin/promtool; \
		rm -rf "$$tmp"; \
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
