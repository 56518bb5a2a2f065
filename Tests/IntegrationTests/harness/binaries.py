"""Where the repository and the built binaries are, and whether a binary is usable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.processes import run


REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("POPGATE_BIN", REPO / ".build" / "debug"))
BINARIES = ("popctl", "popnetd", "popgated", "popgate-inference-sim")
SWIFT_PATH = "/opt/swift/usr/bin"


def binary_problem(name: str) -> str | None:
    """Why BIN/name cannot be used (missing, or still the placeholder that prints "stub"), or None."""
    path = BIN / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"{path} is not built (`make build`)"
    try:
        result = run([str(path), "--help"], timeout=30)
    except subprocess.TimeoutExpired:
        return f"{path} --help did not finish within 30 s"
    if result.stdout.strip() == "stub":
        return f"{path} is still a stub"
    return None
