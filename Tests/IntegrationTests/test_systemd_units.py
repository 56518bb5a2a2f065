"""The systemd units in systemd/: syntax (`systemd-analyze verify`) and hardening (`systemd-analyze security`).

The exposure bounds are the issue's: popgated ≤ 1.5, popnetd ≤ 2.0 (Debian's own nginx.service and
wg-quick@.service score 9.6, systemd-networkd 2.8). test_provisioning.py checks the same units again as
installed into a Debian tree, and boots them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.binaries import BIN, REPO
from harness.processes import describe, require, run
from harness.systemd import unit_exposure

UNITS = REPO / "systemd"
EXPOSURE_BOUNDS = {"popgated.service": 1.5, "popnetd.service": 2.0, "popgate-firewall.service": 2.0,
                   "popgate-node-init.service": 2.0}


def unit_settings(unit: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.fixture(scope="module")
def systemd_analyze() -> None:
    require(shutil.which("systemd-analyze"), "systemd-analyze is not installed (Debian's systemd package; `make deps`)")


def test_every_unit_is_bounded(systemd_analyze: None) -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(EXPOSURE_BOUNDS)


@pytest.mark.parametrize("name", sorted(EXPOSURE_BOUNDS))
def test_exposure_within_bound(systemd_analyze: None, name: str) -> None:
    level = unit_exposure(UNITS / name)
    assert level <= EXPOSURE_BOUNDS[name], f"{name}: exposure {level} > {EXPOSURE_BOUNDS[name]}"


def test_privileges_are_the_documented_ones() -> None:
    gated = unit_settings(UNITS / "popgated.service")
    netd = unit_settings(UNITS / "popnetd.service")
    assert gated["User"] == ["popgate"] and gated["CapabilityBoundingSet"] == [""]
    assert gated["AmbientCapabilities"] == [""]
    assert "AF_NETLINK" not in " ".join(gated["RestrictAddressFamilies"]), "the gateway never speaks netlink"
    assert netd["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"] and netd["User"] == ["root"]
    for settings in (gated, netd):
        assert settings["NoNewPrivileges"] == ["yes"] and settings["ProtectSystem"] == ["strict"]
        assert settings["MemoryDenyWriteExecute"] == ["yes"]
        assert settings["LimitCORE"] == ["0"] and settings["MemorySwapMax"] == ["0"]
        assert settings["Restart"] == ["on-failure"] and settings["Type"] == ["notify"]
    # The boot policy before the network, popnetd after it, popgated after popnetd.
    firewall = unit_settings(UNITS / "popgate-firewall.service")
    assert "network-pre.target" in firewall["Before"][0] and firewall["DefaultDependencies"] == ["no"]
    assert "popgate-firewall.service" in netd["After"][0]
    assert "popnetd.service" in gated["After"][0]
    # Keys and owners are in place before either daemon starts.
    for settings in (gated, netd):
        assert "popgate-node-init.service" in settings["After"][0] and "popgate-node-init.service" in settings["Wants"][0]


def test_popgated_is_given_the_time_to_drain() -> None:
    """SIGKILL must not come before the drain's end: the default drain_timeout_s, the second the cut answers get
    to leave, and the final receipt checkpoint (docs/architecture.md, "Drain")."""
    stop = unit_settings(UNITS / "popgated.service")["TimeoutStopSec"]
    assert len(stop) == 1 and stop[0].endswith("s"), stop
    documented = re.search(r"(?m)^drain_timeout_s = (\d+)", (REPO / "docs" / "configuration.md").read_text())
    assert documented, "docs/configuration.md does not show drain_timeout_s"
    assert int(stop[0][:-1]) >= int(documented.group(1)) + 10, (stop, documented.group(0))


def test_units_verify(systemd_analyze: None, tmp_path: Path) -> None:
    """`systemd-analyze verify` on the units, their ExecStart pointed at this build's binaries (it checks they exist)."""
    for name in ("popnetd", "popgated"):
        require((BIN / name).exists(), f"{BIN / name} is not built (`make build`)")
    require(Path("/usr/sbin/nft").exists(), "nft is not installed (`make deps`)")
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/usr/local/sbin/", f"{BIN}/").replace("/usr/local/bin/", f"{BIN}/")
        (tmp_path / unit.name).write_text(text)
    result = run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))], timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", describe(result)


def test_verify_catches_a_broken_unit(systemd_analyze: None, tmp_path: Path) -> None:
    """The check above can fail: a bad value is reported (verify still exits 0, hence the check on stderr)."""
    text = (UNITS / "popgated.service").read_text().replace("ProtectHome=yes", "ProtectHome=maybe")
    text = text.replace("/usr/local/sbin/", f"{BIN}/").replace("/usr/local/bin/", f"{BIN}/")
    broken = tmp_path / "popgated.service"
    broken.write_text(text)
    result = run(["systemd-analyze", "verify", str(broken)], timeout=60)
    assert "protect home value" in result.stderr and "ignoring" in result.stderr, describe(result)
