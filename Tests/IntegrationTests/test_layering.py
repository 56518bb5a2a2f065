"""The gateway never links the netlink or nftables code, directly or through another module (the privilege split: only popnetd touches the kernel's network state).

Reads the package's resolved target graph from SwiftPM itself, so a dependency added anywhere on the path shows.
Needs no root and no network namespace.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping

from harness.binaries import REPO, SWIFT_PATH
from harness.processes import describe, require, run

FORBIDDEN = {"CMnl", "CNftnl", "Netlink", "Firewall"}
GATEWAY_TARGETS = ("Gateway", "popgated")


def dependency_closure(graph: Mapping[str, Iterable[str]], root: str) -> set[str]:
    """Every target reachable from `root` through target dependencies (not including `root` itself)."""
    seen: set[str] = set()
    stack = list(graph.get(root, ()))
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(graph.get(name, ()))
    return seen


def test_dependency_closure_is_transitive() -> None:
    graph = {"a": ["b"], "b": ["c", "d"], "c": ["a"], "d": []}
    assert dependency_closure(graph, "a") == {"a", "b", "c", "d"}
    assert dependency_closure(graph, "d") == set()


def _package_graph() -> dict[str, list[str]]:
    return {t["name"]: list(t.get("target_dependencies", [])) for t in _package_description()["targets"]}


def _package_description() -> dict:
    """The resolved package: targets with their paths and dependencies."""
    return _swift_package_json("describe", "--type", "json")


def _manifest() -> dict:
    """Package.swift as written: only the products it declares."""
    return _swift_package_json("dump-package")


def _swift_package_json(*command: str) -> dict:
    env = {"PATH": f"{SWIFT_PATH}:{os.environ.get('PATH', '')}"}
    swift = shutil.which("swift", path=env["PATH"])
    require(swift, f"swift is not installed (looked in {SWIFT_PATH} and PATH)")
    result = run([swift, "package", *command], timeout=600, env=env, cwd=REPO)
    assert result.returncode == 0, describe(result)
    # SwiftPM may print progress lines (resolving, fetching) before the document.
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_gateway_depends_on_no_netlink_or_nftables_module() -> None:
    graph = _package_graph()
    for target in GATEWAY_TARGETS:
        assert target in graph, f"target {target} not in the package (targets: {sorted(graph)})"
        leaked = dependency_closure(graph, target) & FORBIDDEN
        assert not leaked, f"{target} depends (transitively) on {sorted(leaked)}"


def test_only_popctl_links_libqrencode() -> None:
    """QR codes are for an operator's terminal: the daemons never link libqrencode (nor its wrapper)."""
    graph = _package_graph()
    for target in (*GATEWAY_TARGETS, "NetAgent", "popnetd"):
        leaked = dependency_closure(graph, target) & {"CQrencode", "QRCode"}
        assert not leaked, f"{target} depends (transitively) on {sorted(leaked)}"
    assert "QRCode" in dependency_closure(graph, "popctl"), "popctl no longer draws QR codes"


# Reading popgate.toml must not link a database driver: every daemon and tool reads it, and the drivers (GRDB,
# PostgresNIO and through it NIOSSL) belong to the registry alone.
CONFIG_TARGETS = ("PopConfig", "RegistryLocations")
DATABASE_TARGETS = {"Registry"}
DATABASE_PRODUCTS = {"GRDB", "GRDBSQLite", "PostgresNIO", "NIOSSL"}


def test_reading_the_configuration_links_no_database() -> None:
    description = _package_description()
    graph = {t["name"]: list(t.get("target_dependencies", [])) for t in description["targets"]}
    products = {t["name"]: set(t.get("product_dependencies", [])) for t in description["targets"]}
    for target in CONFIG_TARGETS:
        assert target in graph, f"target {target} not in the package (targets: {sorted(graph)})"
        closure = dependency_closure(graph, target) | {target}
        leaked = closure & DATABASE_TARGETS
        assert not leaked, f"{target} depends (transitively) on {sorted(leaked)}"
        drivers = set().union(*(products.get(name, set()) for name in closure)) & DATABASE_PRODUCTS
        assert not drivers, f"{target} links {sorted(drivers)} through {sorted(closure)}"


def test_the_products_are_in_sources_and_nothing_else_is() -> None:
    """Sources/ holds the product and only the product: test, benchmark and fuzz drivers live in Tools/,
    Benchmarks/ and Fuzz/, are no products, and no product depends on them."""
    description = _package_description()
    graph = {t["name"]: list(t.get("target_dependencies", [])) for t in description["targets"]}
    paths = {t["name"]: t["path"] for t in description["targets"]}
    kinds = {t["name"]: t["type"] for t in description["targets"]}
    # The manifest's own products: `describe` adds one for every executable target of a root package.
    products = {product["name"]: product["targets"] for product in _manifest()["products"]}
    shipped: set[str] = set()
    for targets in products.values():
        for target in targets:
            shipped |= dependency_closure(graph, target) | {target}
    in_sources = {name for name, path in paths.items() if path.startswith("Sources/")}
    assert in_sources == shipped, (
        f"in Sources/ but in no product: {sorted(in_sources - shipped)}; "
        f"in a product but outside Sources/: {sorted(shipped - in_sources)}"
    )
    drivers = {name for name, kind in kinds.items() if kind != "test" and name not in shipped}
    assert {"popgate-wgcheck", "popgate-fwcheck", "popgate-receipts-bench", "FuzzTargets"} <= drivers, (
        f"the drivers are part of a product: {sorted(drivers)}"
    )

