"""systemd's view of popgate's units, read without a running systemd."""

from __future__ import annotations

import re
from pathlib import Path

from harness.processes import describe, run


def unit_exposure(unit: Path, root: Path | None = None) -> float:
    """The overall exposure `systemd-analyze security` gives the unit file, read without a running systemd; with
    `root`, the unit of that name as installed in that tree, with its drop-ins."""
    command = ["systemd-analyze", "security", "--offline=true", "--no-pager"]
    if root is not None:
        command += [f"--root={root}", unit.name]
    else:
        command.append(str(unit))
    result = run(command, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure level in the output: {describe(result)}"
    return float(match.group(1))
