"""popctl against the live registry: listing, and bad input that is refused without changing anything."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

from harness.demo import Demo
from harness.http import bearer, chat, http_request
from harness.namespaces import ClientNamespace
from harness.probes import seconds_until_cut_off
from harness.processes import describe, wait_for
from harness.wireguard import pop_peer_keys, public_key_of_config

SHORT_KEY = base64.b64encode(bytes(range(1, 32))).decode()  # 31 bytes: valid base64, not a Curve25519 key
REVOCATION_DEADLINE = 2.0  # seconds from `popctl ... revoke` returning to the gateway refusing
MESSAGES = [{"role": "user", "content": "hello"}]


def test_peer_list_json_describes_the_demo_peer(demo: Demo) -> None:
    peers = demo.peers()
    [laptop] = [p for p in peers if p["name"] == demo.env["PEER_NAME"]]
    assert {"id", "tenant", "name", "public_key", "address", "state", "created_at"} <= laptop.keys(), laptop
    assert laptop["tenant"] == demo.tenant
    assert laptop["state"] == "active"
    config = (demo.demo_dir / "pgc0.conf").read_text()
    address = re.search(r"^Address\s*=\s*([0-9.]+)/32\s*$", config, re.M)
    assert address, config
    assert laptop["address"].split("/")[0] == address.group(1)


def test_client_config_is_complete_and_private(demo: Demo) -> None:
    path = demo.demo_dir / "pgc0.conf"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    for pattern in (r"^\[Interface\]", r"^PrivateKey\s*=", r"^Address\s*=\s*10\.77\.0\.\d+/32", r"^MTU\s*=",
                    r"^\[Peer\]", r"^PublicKey\s*=", r"^PresharedKey\s*=", r"^Endpoint\s*=\s*198\.51\.100\.1:51820",
                    r"^AllowedIPs\s*=\s*10\.77\.0\.1/32", r"^PersistentKeepalive\s*=\s*25"):
        assert re.search(pattern, text, re.M), f"{pattern} not in the config:\n{re.sub('Key = .*', 'Key = …', text)}"


def test_key_create_prints_only_the_key(demo: Demo) -> None:
    result = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "slow")
    assert re.fullmatch(r"popk_[0-9a-f]{16}_[0-9a-f]{64}\n", result.stdout), describe(result)


def test_bad_input_is_refused_and_changes_nothing(demo: Demo, tmp_path) -> None:
    before = demo.peers()
    output = tmp_path / "never.conf"
    cases = [
        (("tenant", "add", demo.tenant), ["already exists"]),
        (("peer", "add", "--tenant", "no-such-tenant", "--name", "x1", "--output", str(output)), ["no-such-tenant"]),
        (("peer", "add", "--tenant", demo.tenant, "--name", "x2", "--public-key", "not-a-key", "--output",
          str(output)), ["public"]),
        (("peer", "add", "--tenant", demo.tenant, "--name", "x3", "--public-key", SHORT_KEY,
          "--output", str(output)), ["public"]),
        (("key", "create", "--tenant", demo.tenant, "--tier", "warp-speed"), ["warp-speed"]),
    ]
    problems = []
    for args, expected in cases:
        result = demo.popctl(*args)
        if result.returncode != 1:
            problems.append(f"expected exit 1:\n{describe(result)}")
        elif not all(e.lower() in result.stderr.lower() for e in expected):
            problems.append(f"expected {expected} in the message:\n{describe(result)}")
        elif result.stdout.strip():
            problems.append(f"printed something on stdout:\n{describe(result)}")
    assert not problems, "\n\n".join(problems)
    assert not output.exists(), "a refused peer add wrote a config"
    assert demo.peers() == before


def test_duplicate_peer_name_is_refused(demo: Demo) -> None:
    before = demo.peers()
    result = demo.popctl("peer", "add", "--tenant", demo.tenant, "--name", demo.env["PEER_NAME"])
    assert result.returncode == 1, describe(result)
    assert "PrivateKey" not in result.stdout, "a refused peer add printed a config"
    assert demo.peers() == before


def _models_status(demo: Demo, key: str, ns: str | None = None) -> int:
    """The gateway's status for the model list with `key`: a fast request, so polling it is cheap."""
    return http_request(ns or demo.client_ns, "GET", demo.api_url + "/v1/models", headers=bearer(key),
                        timeout=1).status


def _keys(demo: Demo, *args: str) -> list[dict]:
    result = demo.popctl_ok("key", "list", "--json", *args)
    return json.loads(result.stdout)


def test_a_revoked_key_is_refused_within_two_seconds(demo: Demo) -> None:
    key = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "fast").stdout.strip()
    key_id = key.split("_")[1]
    secret = key.split("_")[2]
    listing = demo.popctl_ok("key", "list", "--tenant", demo.tenant)
    json_listing = demo.popctl_ok("key", "list", "--tenant", demo.tenant, "--json")
    for result in (listing, json_listing):
        assert secret not in result.stdout, "a key listing shows a secret"
    [listed] = [k for k in json.loads(json_listing.stdout) if k["key_id"] == key_id]
    assert listed["tenant"] == demo.tenant and listed["default_tier"] == "fast", listed
    assert listed["state"] == "active" and listed["revoked_at"] is None, listed
    assert re.search(rf"^{key_id}\s+{re.escape(demo.tenant)}\s+fast\s+active\s", listing.stdout, re.M), listing.stdout

    assert _models_status(demo, key) == 200
    assert chat(demo.client_ns, demo, MESSAGES, key=key).status == 200

    revoked = demo.popctl_ok("key", "revoke", key_id)
    since = time.monotonic()
    assert key_id in revoked.stdout, describe(revoked)
    assert wait_for(lambda: _models_status(demo, key) == 401, timeout=REVOCATION_DEADLINE, interval=0.05), (
        f"the gateway still accepted the key {REVOCATION_DEADLINE} s after it was revoked"
    )
    assert chat(demo.client_ns, demo, MESSAGES, key=key).status == 401
    [listed] = [k for k in _keys(demo) if k["key_id"] == key_id]
    assert listed["state"] == "revoked" and listed["revoked_at"], listed

    # Again: refused, nothing changed; the demo's own key is untouched.
    again = demo.popctl("key", "revoke", key_id)
    assert again.returncode == 1 and "already revoked" in again.stderr, describe(again)
    assert not again.stdout.strip(), describe(again)
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_revoking_an_unknown_key_fails_and_changes_nothing(demo: Demo) -> None:
    before = _keys(demo)
    result = demo.popctl("key", "revoke", "0123456789abcdef")
    assert result.returncode == 1, describe(result)
    assert "0123456789abcdef" in result.stderr and "popctl key list" in result.stderr, describe(result)
    assert _keys(demo) == before
    usage = demo.popctl("key", "revoke")
    assert usage.returncode == 2, describe(usage)


def test_tenant_list_json(demo: Demo) -> None:
    tenants = json.loads(demo.popctl_ok("tenant", "list", "--json").stdout)
    [tenant] = [t for t in tenants if t["name"] == demo.tenant]
    assert tenant["removed_at"] is None and tenant["created_at"], tenant


def test_tenant_remove_is_refused_in_use_and_forced_cuts_everything_off(demo: Demo) -> None:
    tenant = f"leaving-{uuid.uuid4().hex[:6]}"  # its own tenant: the demo's stays as it is
    demo.popctl_ok("tenant", "add", tenant)
    conf = demo.demo_dir / "pgtrm1.conf"
    demo.popctl_ok("peer", "add", "--tenant", tenant, "--name", f"{tenant}-pc", "--output", str(conf))
    key = demo.popctl_ok("key", "create", "--tenant", tenant).stdout.strip()
    peer_key = public_key_of_config(conf)

    with ClientNamespace(demo, "pg-leaving", 205, conf) as client:
        client.tunnel_up()
        assert chat(client.ns, demo, MESSAGES, key=key).status == 200

        peers, keys = demo.peers(), _keys(demo)
        refused = demo.popctl("tenant", "remove", tenant)
        assert refused.returncode == 1, describe(refused)
        assert "1 active peer and 1 active API key" in refused.stderr and "--force" in refused.stderr, describe(refused)
        assert demo.peers() == peers and _keys(demo) == keys
        assert chat(client.ns, demo, MESSAGES, key=key).status == 200

        removed = demo.popctl_ok("tenant", "remove", tenant, "--force")
        since = time.monotonic()
        assert f"removed tenant {tenant}" in removed.stdout, describe(removed)
        stopped = seconds_until_cut_off(client.ns, demo, since=since, within=REVOCATION_DEADLINE, request_timeout=0.5)
        assert stopped is not None, f"the removed tenant's peer still got answers {REVOCATION_DEADLINE} s later"
        assert wait_for(lambda: peer_key not in pop_peer_keys(demo), timeout=REVOCATION_DEADLINE), (
            "the removed tenant's peer is still on wg-edge"
        )

    assert tenant not in {t["name"] for t in json.loads(demo.popctl_ok("tenant", "list", "--json").stdout)}
    [gone] = [t for t in json.loads(demo.popctl_ok("tenant", "list", "--all", "--json").stdout) if t["name"] == tenant]
    assert gone["removed_at"], gone
    assert [k["state"] for k in _keys(demo, "--tenant", tenant)] == ["revoked"]
    assert f"{tenant}-pc" not in {p["name"] for p in demo.peers()}
    # The demo's tenant and client are untouched.
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
    unknown = demo.popctl("tenant", "remove", tenant)
    assert unknown.returncode == 1 and "already removed" in unknown.stderr, describe(unknown)
