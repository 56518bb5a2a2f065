"""A peer added with --expires stops working when its time passes: popnetd removes it from WireGuard and popgated
reloads, both by the clock, with no registry write (the revision does not move)."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from datetime import datetime, timezone

from harness.demo import Demo
from harness.http import chat
from harness.namespaces import ClientNamespace
from harness.processes import describe, wait_for
from harness.wireguard import pop_peer_keys, public_key_of_config

MESSAGES = [{"role": "user", "content": "hello"}]
LIFETIME = 10  # seconds: long enough to bring a tunnel up and use it first
REMOVAL_DEADLINE = 1.0  # after the expiry instant; popnetd wakes for it rather than at its next poll


def _revision(demo: Demo) -> int:
    with sqlite3.connect(f"file:{demo.demo_dir}/state/registry.sqlite?mode=ro", uri=True) as db:
        return db.execute("SELECT revision FROM registry_revision WHERE id = 1").fetchone()[0]


def test_an_expired_peer_is_removed_on_time_without_a_registry_write(demo: Demo) -> None:
    # A whole-second ISO 8601 instant, so the test knows the expiry exactly.
    expires = datetime.fromtimestamp(math.ceil(time.time()) + LIFETIME, timezone.utc)
    conf = demo.demo_dir / "pgexp1.conf"
    demo.popctl_ok("peer", "add", "--tenant", demo.tenant, "--name", "expiree", "--output", str(conf),
                   "--expires", expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    key = public_key_of_config(conf)
    [listed] = [p for p in demo.peers() if p["name"] == "expiree"]
    assert listed["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ"), listed
    assert re.search(r"^expiree .* " + re.escape(listed["expires_at"]) + " ",
                     demo.popctl_ok("peer", "list").stdout, re.M)

    with ClientNamespace(demo, "pg-expiry", 201, conf) as client:
        client.tunnel_up()
        assert chat(client.ns, demo, MESSAGES).status == 200
        revision = _revision(demo)
        peers_loaded = len(demo.peers())

        wait_for(lambda: time.time() >= expires.timestamp(), timeout=LIFETIME + 1, interval=0.01)
        assert wait_for(lambda: key not in pop_peer_keys(demo), timeout=REMOVAL_DEADLINE, interval=0.05), (
            f"peer still on wg-edge {REMOVAL_DEADLINE} s after it expired"
        )
        assert _revision(demo) == revision, "expiry wrote to the registry"
        # popgated reloaded by the clock too: same revision, one live peer fewer.
        log = demo.demo_dir / "logs" / "popgated.log"
        reload = re.compile(rf"peers={peers_loaded - 1} registry\.revision={revision} .*registry loaded")
        assert wait_for(lambda: reload.search(log.read_text()), timeout=1), log.read_text()[-2000:]

    assert "expiree" not in {p["name"] for p in demo.peers()}
    [expired] = [p for p in json.loads(demo.popctl_ok("peer", "list", "--all", "--json").stdout)
                 if p["name"] == "expiree"]
    assert expired["state"] == "expired", expired
    # Its name is free again, as after a revocation.
    again = demo.popctl("peer", "add", "--tenant", demo.tenant, "--name", "expiree", "--output",
                        str(demo.demo_dir / "pgexp2.conf"))
    assert again.returncode == 0, describe(again)
    demo.popctl_ok("peer", "revoke", "expiree")
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
