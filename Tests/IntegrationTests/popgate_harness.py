"""The names test_cli_docs.py imports from here, kept where it finds them; everything else imports from harness.*,
one module per concern."""

from harness.binaries import BIN, REPO, SWIFT_PATH, binary_problem
from harness.postgres import registry_config
from harness.processes import describe, require, run

__all__ = ["BIN", "REPO", "SWIFT_PATH", "binary_problem", "describe", "registry_config", "require", "run"]
