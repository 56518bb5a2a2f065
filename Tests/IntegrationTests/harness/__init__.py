"""Shared helpers for popgate's integration tests, one module per concern.

Everything here runs real processes: `ip netns exec` into the namespaces provisioning/topology.py makes, the popctl
binary, and small Python scripts executed *inside* a namespace (so their traffic really comes from that namespace's
address and goes through its WireGuard tunnel). Every subprocess has a timeout; nothing here waits unboundedly.
"""

import sys
from pathlib import Path

# The topology module lives with the demo that uses it too; the tests import it as `topology`.
_PROVISIONING = str(Path(__file__).resolve().parents[3] / "provisioning")
if _PROVISIONING not in sys.path:
    sys.path.insert(0, _PROVISIONING)
