"""popgate's WireGuard backend against wireguard-go on this machine: 1, 1,000 and 10,000 peers applied and read
back exactly, single-peer changes with 10,000 present, each result compared with `wg show dump`.

The kernel backend runs the same suite inside a QEMU VM (test_kernel_wireguard.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from harness.binaries import BIN
from harness.namespaces import take_down
from harness.processes import describe, ns_run, require
from topology import Lone

NAMESPACE = Lone("pg-wgcheck")
NS = NAMESPACE.name
INTERFACE = "pgwgcheck0"


@pytest.fixture
def wireguard_go_device() -> Iterator[str]:
    require(os.geteuid() == 0, "needs root (network namespaces, TUN)")
    require(shutil.which("wireguard-go"), "wireguard-go is not installed (`make deps`)")
    require((BIN / "popgate-wgcheck").exists(), "popgate-wgcheck is not built (`make build`)")
    take_down(NAMESPACE)  # what a killed run left: its wireguard-go, ours
    NAMESPACE.up()
    try:
        # wireguard-go daemonises and returns once its UAPI socket exists.
        subprocess_ok(ns_run(NS, ["wireguard-go", INTERFACE], timeout=20))
        yield INTERFACE
    finally:
        # Only processes in our own namespace: that is the wireguard-go we started.
        take_down(NAMESPACE)
        Path(f"/var/run/wireguard/{INTERFACE}.sock").unlink(missing_ok=True)


def subprocess_ok(result) -> None:
    assert result.returncode == 0, describe(result)


def test_backend_suite_against_wireguard_go(wireguard_go_device: str) -> None:
    result = ns_run(
        NS, [str(BIN / "popgate-wgcheck"), "suite", "--backend", "userspace", "--interface", wireguard_go_device],
        timeout=300,
    )
    assert result.returncode == 0 and "suite passed" in result.stdout, describe(result)
    for check in ("apply 10000 peers", "add one peer with 10000 present", "remove one peer with 10001 present"):
        assert f"ok   {check}" in result.stdout, describe(result)
