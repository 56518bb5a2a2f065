"""A registry in PostgreSQL (test_registry_postgres.py, test_multi_pop.py): throwaway clusters and psql."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.binaries import REPO
from harness.processes import ns_cmd, run
from harness.wireguard import wg_key_pair


# Throwaway PostgreSQL clusters on loopback (the registry's database); the script's own default bindir, moved for
# both by POPGATE_PG_BINDIR.
POSTGRES_SCRIPT = REPO / "Tests" / "support" / "throwaway-postgres.sh"
POSTGRES_BINDIR = Path(os.environ.get("POPGATE_PG_BINDIR", "/usr/lib/postgresql/15/bin"))


PSQL_TIMEOUT = 30


def psql(url: str, query: str, *, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    """One statement through psql (unaligned, tuples only, no ~/.psqlrc, errors fail it), from `ns` if given."""
    candidate = POSTGRES_BINDIR / "psql"
    tool = str(candidate) if candidate.exists() else "psql"
    cmd = [tool, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", query]
    return run(ns_cmd(ns, cmd) if ns else cmd, timeout=PSQL_TIMEOUT, env={"PGCONNECT_TIMEOUT": "10"})


def registry_config(directory: Path, registry_lines: str) -> Path:
    """A minimal popgate.toml in `directory` for popctl (no daemon reads it), with `registry_lines` as its
    [registry] section, and the WireGuard private key file popctl needs to write client configs."""
    key = directory / "wg.key"
    if not key.exists():
        key.touch(mode=0o600)
        key.write_text(wg_key_pair()[0] + "\n")
    path = directory / "popgate.toml"
    path.write_text(f"""[pop]
name = "pop-pg-test"

[registry]
{registry_lines}

[wireguard]
interface = "wg-pgtest"
private_key_file = "{key}"
address = "10.88.0.1/24"
endpoint = "192.0.2.1:51820"

[netd]
run_directory = "{directory}/run"

[[backends]]
name = "none"
url = "http://192.0.2.2:8000"
models = ["popgate-sim-small"]
""")
    return path
