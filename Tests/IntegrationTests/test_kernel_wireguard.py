"""popgate's kernel WireGuard backend against the real module, inside a QEMU VM (this machine's kernel has no
WireGuard): the backend suite (1, 1,000, 10,000 peers applied and read back exactly; one peer added, changed
and removed with 10,000 present; every result compared with `wg show dump`), then a tunnel between two
namespaces configured only by popgate's code, with a handshake and traffic. See Tests/KernelVM/kernel-suite.sh
and docs/kernel-vm.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.binaries import BIN
from harness.processes import describe, require, run
from topology import Pair, shell_script

pytestmark = pytest.mark.kernel_vm

ROOT = Path(__file__).resolve().parents[2]
RUN_VM = ROOT / "provisioning" / "kernel-vm" / "run.sh"


def test_kernel_backend_suite_in_a_vm(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "needs root (the VM harness installs QEMU and reads the kernel package)")
    require((BIN / "popgate-wgcheck").exists(), "popgate-wgcheck is not built (`make build`)")
    # The VM has no Python: its two namespaces come as the shell script topology.py writes for them.
    pair = tmp_path / "pair.sh"
    pair.write_text(shell_script(Pair()))
    result = run(
        ["bash", str(RUN_VM), "--timeout", "1200", "--cpus", "1",
         "--copy", f"{BIN / 'popgate-wgcheck'}:/bin/popgate-wgcheck",
         "--copy", f"{ROOT / 'Tests' / 'KernelVM'}:/vectors",
         "--copy", f"{pair}:/topology/pair.sh",
         "--", "/vectors/kernel-suite.sh"],
        timeout=1500,
    )
    assert result.returncode == 0 and "kernel suite passed" in result.stdout, describe(result)
    for check in ("ok   apply 10000 peers (kernel)", "ok   add one peer with 10000 present",
                  "ok   change one peer's allowed IPs", "ok   remove one peer with 10001 present",
                  "ok   handshake at"):
        assert check in result.stdout, describe(result)
