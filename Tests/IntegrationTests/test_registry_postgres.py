"""popctl against a registry in PostgreSQL (`[registry] url`): the everyday commands, and the errors an operator
meets when the database is unreachable or the configuration is wrong.

The module gets a database of its own (CREATE DATABASE on the session's `postgres_url` server), dropped afterwards,
so what it adds never meets other tests' rows. No daemon runs: popctl alone talks to the database.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness.binaries import BIN
from harness.postgres import psql, registry_config
from harness.processes import describe, require, run
from harness.wireguard import wg_key_pair

POPCTL_TIMEOUT = 30


class Registry:
    """popctl with a popgate.toml whose registry is one PostgreSQL database."""

    def __init__(self, config: Path) -> None:
        self.config = config

    def popctl(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run([str(BIN / "popctl"), *args, "--config", str(config or self.config)], timeout=POPCTL_TIMEOUT)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.popctl(*args)
        assert result.returncode == 0, describe(result)
        return result

    def json(self, *args: str) -> list[dict]:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database on the session's server, for this module only."""
    name = f"popgate_ctl_{uuid.uuid4().hex[:8]}"
    created = psql(postgres_url, f"CREATE DATABASE {name}")
    assert created.returncode == 0, describe(created)
    parts = urlsplit(postgres_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        # FORCE: a connection popctl left behind must not keep the database.
        dropped = psql(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        assert dropped.returncode == 0, describe(dropped)


@pytest.fixture(scope="module")
def registry(built: None, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    require(shutil.which("wg"), "wg is not installed (`make deps`): popctl needs a WireGuard key pair")
    directory = tmp_path_factory.mktemp("registry-postgres")
    return Registry(registry_config(directory, f'url = "{database_url}"'))


def test_tenant_add_and_list(registry: Registry) -> None:
    added = registry.ok("tenant", "add", "pgacme")
    assert "pgacme" in added.stdout, describe(added)
    [tenant] = [t for t in registry.json("tenant", "list") if t["name"] == "pgacme"]
    assert tenant["removed_at"] is None and tenant["created_at"], tenant
    again = registry.popctl("tenant", "add", "pgacme")
    assert again.returncode == 1 and "already exists" in again.stderr, describe(again)


def test_peer_add_with_public_key_list_and_revoke(registry: Registry) -> None:
    registry.ok("tenant", "add", "pgpeers")
    _, public = wg_key_pair()
    added = registry.ok("peer", "add", "--tenant", "pgpeers", "--name", "pg-laptop", "--public-key", public)
    # With --public-key the config has no private key of ours to show, and says so.
    assert "PrivateKey = <" in added.stdout and re.search(r"^PresharedKey = \S+", added.stdout, re.M), added.stdout
    address = re.search(r"^Address = ([0-9.]+)/32$", added.stdout, re.M)
    assert address, added.stdout

    [peer] = [p for p in registry.json("peer", "list") if p["name"] == "pg-laptop"]
    assert peer["public_key"] == public and peer["tenant"] == "pgpeers" and peer["state"] == "active", peer
    assert peer["address"].split("/")[0] == address.group(1), peer

    revoked = registry.ok("peer", "revoke", "pg-laptop")
    assert "revoked peer pg-laptop" in revoked.stdout, describe(revoked)
    assert "pg-laptop" not in {p["name"] for p in registry.json("peer", "list")}
    [gone] = [p for p in registry.json("peer", "list", "--all") if p["name"] == "pg-laptop"]
    assert gone["state"] == "revoked", gone


def test_key_create_and_list(registry: Registry) -> None:
    registry.ok("tenant", "add", "pgkeys")
    key = registry.ok("key", "create", "--tenant", "pgkeys", "--tier", "fast").stdout
    match = re.fullmatch(r"popk_([0-9a-f]{16})_([0-9a-f]{64})\n", key)
    assert match, key
    listing = registry.json("key", "list", "--tenant", "pgkeys")
    [listed] = [k for k in listing if k["key_id"] == match.group(1)]
    assert listed["tenant"] == "pgkeys" and listed["default_tier"] == "fast", listed
    assert listed["state"] == "active" and listed["revoked_at"] is None, listed
    assert match.group(2) not in json.dumps(listing), "a key listing shows a secret"


def _assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, describe(result)
    missing = [e for e in expected if e not in result.stderr]
    assert not missing, f"{missing} not in the message:\n{describe(result)}"
    assert not result.stdout.strip(), describe(result)


def test_an_unreachable_database_is_named_with_what_to_check(registry: Registry, tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    closed = registry_config(tmp_path, 'url = "postgres://popgate@127.0.0.1:9/popgate"')
    for args in (("tenant", "list", "--json"), ("peer", "list"), ("key", "create", "--tenant", "pgkeys")):
        result = registry.popctl(*args, config=closed)
        _assert_refused(result, "127.0.0.1", "port 9", "check that PostgreSQL runs on")


def test_a_password_in_the_url_is_refused_by_validation(registry: Registry, tmp_path: Path) -> None:
    config = registry_config(tmp_path, 'url = "postgres://popgate:hunter2@127.0.0.1:9/popgate"')
    result = registry.popctl("tenant", "list", config=config)
    _assert_refused(result, "registry.url", "password", "password_file")
    assert "hunter2" not in result.stderr, "the refusal repeats the password"


def test_path_and_url_together_are_refused(registry: Registry, tmp_path: Path) -> None:
    config = registry_config(tmp_path, f'path = "{tmp_path}/registry.sqlite"\nurl = "postgres://popgate@127.0.0.1:9/x"')
    result = registry.popctl("tenant", "list", config=config)
    _assert_refused(result, "registry.url", "not both")
    assert not (tmp_path / "registry.sqlite").exists(), "a refused configuration created the SQLite file"
