"""The running demo (provisioning/demo.sh up), as described by the env file it writes."""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.binaries import REPO
from harness.processes import describe, run


DEMO_SCRIPT = REPO / "provisioning" / "demo.sh"


def parse_env_file(path: Path) -> dict[str, str]:
    """Reads the `NAME=value` lines (values quoted for bash with %q) that `demo.sh up` writes."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, raw = line.partition("=")
        words = shlex.split(raw)
        values[name.strip()] = words[0] if words else ""
    return values


# What `popctl peer list --json` takes from popnetd's status socket rather than from the registry.
LIVE_PEER_FIELDS = frozenset({"last_handshake", "endpoint", "rx_bytes", "tx_bytes"})


@dataclass(frozen=True)
class Demo:
    """The running demo, as described by /run/popgate-demo/env."""

    env: dict[str, str]

    @property
    def client_ns(self) -> str:
        return self.env["CLIENT_NS"]

    @property
    def pop_ns(self) -> str:
        return self.env["POP_NS"]

    @property
    def compute_ns(self) -> str:
        return self.env["COMPUTE_NS"]

    @property
    def outside_ns(self) -> str:
        return self.env["OUTSIDE_NS"]

    @property
    def api_url(self) -> str:
        return self.env["POP_API_URL"]

    @property
    def api_key(self) -> str:
        return self.env["API_KEY"]

    @property
    def tenant(self) -> str:
        return self.env["TENANT"]

    @property
    def model(self) -> str:
        return self.env["MODEL"]

    @property
    def config(self) -> str:
        return self.env["POPGATE_CONFIG"]

    @property
    def bin(self) -> Path:
        return Path(self.env["POPGATE_BIN"])

    @property
    def demo_dir(self) -> Path:
        return Path(self.env["DEMO_DIR"])

    def popctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Runs popctl against the demo's configuration (on the PoP: popctl needs no namespace)."""
        return run([str(self.bin / "popctl"), *args], timeout=timeout, env={"POPGATE_CONFIG": self.config})

    def popctl_ok(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = self.popctl(*args, timeout=timeout)
        assert result.returncode == 0, describe(result)
        return result

    def peers(self) -> list[dict[str, Any]]:
        """The registry's view of the live peers: `popctl peer list --json` without the columns popnetd adds
        (handshake, endpoint, counters), which change with traffic and would make before/after comparisons flaky."""
        return [{k: v for k, v in peer.items() if k not in LIVE_PEER_FIELDS} for peer in self.live_peers()]

    def live_peers(self) -> list[dict[str, Any]]:
        """`popctl peer list --json`, parsed, including what popnetd's status socket adds."""
        return json.loads(self.popctl_ok("peer", "list", "--json").stdout)

    def demo_sh(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run(["bash", str(DEMO_SCRIPT), *args], timeout=timeout, env={"POPGATE_BIN": str(self.bin)})


def status_document(demo: Demo) -> dict[str, Any]:
    """popnetd's status document through `popctl status --json`."""
    return json.loads(demo.popctl_ok("status", "--json").stdout)
