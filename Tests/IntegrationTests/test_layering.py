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
    env = {"PATH": f"{SWIFT_PATH}:{os.environ.get('PATH', '')}"}
    swift = shutil.which("swift", path=env["PATH"])
    require(swift, f"swift is not installed (looked in {SWIFT_PATH} and PATH)")
    result = run([swift, "package", "describe", "--type", "json"], timeout=600, env=env, cwd=REPO)
    assert result.returncode == 0, describe(result)
    # SwiftPM may print progress lines (resolving, fetching) before the document.
    description = json.loads(result.stdout[result.stdout.index("{"):])
    return {t["name"]: list(t.get("target_dependencies", [])) for t in description["targets"]}


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
