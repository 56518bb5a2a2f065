"""Netlink failures a user can meet say what was attempted, on what, and what to do."""

from __future__ import annotations

import os
import shutil

from harness.binaries import BIN
from harness.processes import describe, require, run

CONFIGURE = [
    "configure", "--backend", "kernel", "--interface", "pgnocap0", "--private-key-file", "/dev/null",
    "--listen-port", "51999", "--address", "10.0.0.1/24", "--peer", "x", "--allowed-ip", "10.0.0.2/32",
]


def test_missing_cap_net_admin_is_named() -> None:
    require(os.geteuid() == 0, "needs root to drop to an unprivileged user")
    require(shutil.which("setpriv"), "setpriv (util-linux) is missing")
    require((BIN / "popgate-wgcheck").exists(), "popgate-wgcheck is not built (`make build`)")
    result = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(BIN / "popgate-wgcheck"), *CONFIGURE],
                 timeout=30)
    assert result.returncode != 0, describe(result)
    assert "EPERM" in result.stderr and "CAP_NET_ADMIN" in result.stderr, describe(result)
    assert "pgnocap0" in result.stderr, describe(result)
    assert not os.path.exists("/sys/class/net/pgnocap0")
