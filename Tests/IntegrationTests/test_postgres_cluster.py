"""The PostgreSQL database the registry tests use (the `postgres_url` fixture, Tests/support/throwaway-postgres.sh).

It answers on its URL as popgate, a superuser, in database popgate; and it listens on 127.0.0.1 only, so trust
authentication reaches nobody beyond this machine.
"""

from __future__ import annotations

import shutil
import subprocess

from harness.postgres import POSTGRES_BINDIR
from harness.processes import describe, require, run

PSQL_TIMEOUT = 30


def _psql(url: str, query: str) -> subprocess.CompletedProcess[str]:
    """One query through psql, unaligned and tuples only; no ~/.psqlrc, errors fail the command."""
    candidate = POSTGRES_BINDIR / "psql"
    psql = str(candidate) if candidate.exists() else shutil.which("psql")
    require(psql, f"psql is not installed (neither {candidate} nor on PATH; `make deps`)")
    return run([str(psql), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", query],
               timeout=PSQL_TIMEOUT, env={"PGCONNECT_TIMEOUT": "10"})


def _value(url: str, query: str) -> str:
    result = _psql(url, query)
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def test_the_database_answers_as_the_popgate_superuser(postgres_url: str) -> None:
    assert _value(postgres_url, "SELECT 1") == "1"
    assert _value(postgres_url, "SELECT current_user || ' ' || current_database()") == "popgate popgate"
    assert _value(postgres_url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t"


def test_the_server_listens_on_loopback_only(postgres_url: str) -> None:
    assert postgres_url.startswith("postgres://popgate@127.0.0.1:"), postgres_url
    assert _value(postgres_url, "SHOW listen_addresses") == "127.0.0.1"
    assert _value(postgres_url, "SELECT host(inet_server_addr())") == "127.0.0.1"
