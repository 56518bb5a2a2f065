"""popctl against the live registry: listing, and bad input that is refused without changing anything."""

from __future__ import annotations

import base64
import re

from popgate_harness import Demo, describe

SHORT_KEY = base64.b64encode(bytes(range(1, 32))).decode()  # 31 bytes: valid base64, not a Curve25519 key


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
