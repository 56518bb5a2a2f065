# popgate: build, test and demo entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
.PHONY: deps build release install test soak fuzz demo clean

# The toolchain lives outside the default PATH on these machines (CI runs without a login shell).
export PATH := /opt/swift/usr/bin:$(PATH)

PYTHON ?= python3
SWIFT ?= swift

# Debian packages: the C libraries the package links, the WireGuard userspace tools the daemons and the
# integration tests drive, and the tools the demo and the tests use in the namespaces (tcpdump for the
# silent-close captures, openssl for the TLS test's certificates), PostgreSQL's server binaries for the throwaway
# clusters the registry tests run against, libqrencode for popctl's terminal QR codes (qrencode and zbar-tools
# check them in the tests), groff to render popctl's generated man page, and for the appliance tests
# (test_systemd_units.py, test_provisioning.py): systemd-analyze, debootstrap for a Debian 12 tree to provision,
# and systemd-nspawn to boot it; cmake and g++ build llama.cpp's server for the engine tests
# (provisioning/engines/llama-server.sh).
PG_PACKAGE := postgresql-15
APT_PACKAGES := libmnl-dev libnftnl-dev libsodium-dev libsqlite3-dev pkg-config \
	nftables wireguard-go wireguard-tools iproute2 curl tcpdump openssl $(PG_PACKAGE) \
	libqrencode-dev qrencode zbar-tools groff-base systemd debootstrap systemd-container cmake g++

# postgresql-15's first install would create a system cluster "main" (and the postinst would then start it, on
# port 5432): postgresql-common skips that when createcluster.conf, which includes createcluster.d/*.conf, says
# create_main_cluster = false. The directory comes with no package, so it is made here, before apt runs. With no
# cluster the postinst's `invoke-rc.d postgresql start` (or postgresql.service, a no-op unit) starts nothing,
# so no policy-rc.d is needed.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
		case " $$missing " in *" $(PG_PACKAGE) "*) \
			mkdir -p /etc/postgresql-common/createcluster.d; \
			echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/popgate.conf;; \
		esac; \
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

# What a PoP node runs, built for release with the Swift runtime linked in: the node needs no Swift
# toolchain, only the Debian libraries bootstrap-pop.sh installs. One release variant only (the
# static runtime recompiles every module).
RELEASE_FLAGS ?= -c release --static-swift-stdlib
NODE_DAEMONS := popnetd popgated
NODE_TOOLS := popctl popaudit
release:
	@for product in $(NODE_DAEMONS) $(NODE_TOOLS); do \
		$(SWIFT) build $(RELEASE_FLAGS) --product "$$product"; \
	done

# The layout docs/operator-guide.md documents. DESTDIR stages a tree (an image, a tarball); PREFIX is
# where it will live on the node, written into the units and bootstrap-pop.sh. Binaries are stripped
# (half the size: 83 instead of 166 MB for popgated; the daemons write no core files to read symbols with).
PREFIX ?= /usr/local
DESTDIR ?=
install: release
	@bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)"; \
	root="$(DESTDIR)$(PREFIX)"; \
	install -d -m 0755 "$$root/sbin" "$$root/bin" "$$root/lib/systemd/system" "$$root/share/popgate" \
		"$$root/share/doc/popgate"; \
	for product in $(NODE_DAEMONS); do install -s -m 0755 "$$bin/$$product" "$$root/sbin/$$product"; done; \
	for product in $(NODE_TOOLS); do install -s -m 0755 "$$bin/$$product" "$$root/bin/$$product"; done; \
	for unit in systemd/*.service; do \
		sed 's|/usr/local/|$(PREFIX)/|g' "$$unit" >"$$root/lib/systemd/system/$$(basename "$$unit")"; \
		chmod 0644 "$$root/lib/systemd/system/$$(basename "$$unit")"; \
	done; \
	sed 's|^PREFIX=/usr/local$$|PREFIX=$(PREFIX)|' provisioning/bootstrap-pop.sh >"$$root/share/popgate/bootstrap-pop.sh"; \
	chmod 0755 "$$root/share/popgate/bootstrap-pop.sh"; \
	install -m 0644 provisioning/popgate.toml.in nftables/popgate.nft "$$root/share/popgate/"; \
	install -m 0644 README.md docs/*.md "$$root/share/doc/popgate/"; \
	install -d -m 0755 "$$root/share/bash-completion/completions" "$$root/share/zsh/site-functions" \
		"$$root/share/fish/vendor_completions.d"; \
	"$$bin/popctl" --generate-completion-script bash >"$$root/share/bash-completion/completions/popctl"; \
	"$$bin/popctl" --generate-completion-script zsh >"$$root/share/zsh/site-functions/_popctl"; \
	"$$bin/popctl" --generate-completion-script fish >"$$root/share/fish/vendor_completions.d/popctl.fish"; \
	chmod 0644 "$$root/share/bash-completion/completions/popctl" "$$root/share/zsh/site-functions/_popctl" \
		"$$root/share/fish/vendor_completions.d/popctl.fish"; \
	echo "installed popgate into $$root"

# Every build and every suite, each phase timed (a table at the end): the debug and release builds, swift test,
# the integration tests, the fuzz build and smoke run. Tests/support/run-suite.sh says how.
test: deps
	@bash Tests/support/run-suite.sh

# libFuzzer on every parser that meets foreign bytes (docs/reliability.md): a sanitized build of its own
# (.build-fuzz), then each target for FUZZ_SECONDS, or only FUZZ_TARGETS. `make test` runs the short form
# (the committed corpus plus a few seconds each).
FUZZ_SCRIPT := Fuzz/fuzz.sh
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	bash $(FUZZ_SCRIPT) build
	bash $(FUZZ_SCRIPT) run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The long forms of docs/reliability.md: the tests marked soak (flood, fault, canary and isolation) with
# POPGATE_SOAK=1 (minutes per flood, 10,000 canary requests), then every fuzz target for SOAK_FUZZ_SECONDS.
SOAK_FUZZ_SECONDS ?= 600
soak: deps build
	POPGATE_SOAK=1 POPGATE_REQUIRE_INTEGRATION=1 $(PYTHON) -m pytest -v -s -m soak Tests/IntegrationTests
	bash $(FUZZ_SCRIPT) build
	bash $(FUZZ_SCRIPT) run $(SOAK_FUZZ_SECONDS)

# `make demo REAL=1`: the same demo with llama.cpp's server as the workers (built once per machine).
demo: deps
	$(SWIFT) build
	POPGATE_DEMO_WORKERS=$(if $(REAL),engines,simulators) bash provisioning/demo.sh all

clean:
	-bash provisioning/demo.sh down
	$(SWIFT) package clean
	rm -rf .build-fuzz
	rm -rf Tests/IntegrationTests/__pycache__ Tests/IntegrationTests/.pytest_cache .pytest_cache

# popctl's man page and bash, zsh and fish completions, generated from its command definitions into CLI_DOCS_DIR
# (build output, not committed; docs/popctl.md says how to install them). The page comes from swift-argument-parser's
# GenerateManual plugin, which builds the package and writes a page per executable into a directory it names.
CLI_DOCS_DIR ?= .build/cli-docs
.PHONY: cli-docs
cli-docs:
	$(SWIFT) build --product popctl
	@mkdir -p $(CLI_DOCS_DIR); \
	out="$$($(SWIFT) package generate-manual --configuration debug \
		--date "$$(git log -1 --format=%cs 2>/dev/null || date -u +%F)")"; \
	page="$$(printf '%s\n' "$$out" | sed -n "s|^Generated manual in '\(file://\)\{0,1\}\(/.*/popctl\)/\{0,1\}'$$|\2|p")/popctl.1"; \
	[ -f "$$page" ] || { printf '%s\n' "$$out" >&2; echo "make cli-docs: the plugin wrote no popctl.1" >&2; exit 1; }; \
	cp "$$page" $(CLI_DOCS_DIR)/popctl.1; \
	bin="$$($(SWIFT) build --show-bin-path)"; \
	"$$bin/popctl" --generate-completion-script bash >$(CLI_DOCS_DIR)/popctl.bash; \
	"$$bin/popctl" --generate-completion-script zsh >$(CLI_DOCS_DIR)/_popctl; \
	"$$bin/popctl" --generate-completion-script fish >$(CLI_DOCS_DIR)/popctl.fish; \
	echo "wrote $(CLI_DOCS_DIR): popctl.1 popctl.bash _popctl popctl.fish"
