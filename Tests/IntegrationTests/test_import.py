"""`popctl peer import` against the live demo: the imported peers reach the PoP's WireGuard device."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

from harness.demo import Demo
from harness.processes import describe, wait_for
from harness.wireguard import pop_peer_keys

APPLY_DEADLINE = 5.0  # seconds from `popctl peer import` returning to the peers being on wg-edge


def test_imported_peers_reach_wireguard_and_are_revoked_again(demo: Demo, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    names = [f"import-{tag}-{i}" for i in range(3)]
    csv_file = tmp_path / "peers.csv"
    csv_file.write_text("tenant,name\n" + "".join(f"{demo.tenant},{name}\n" for name in names))
    out = tmp_path / "configs"

    keys: set[str] = set()
    result = demo.popctl_ok("peer", "import", str(csv_file), "--output-dir", str(out), "--json")
    try:
        report = json.loads(result.stdout)
        assert report["imported"] == 3 and report["refused"] == 0, describe(result)
        assert "PrivateKey" not in result.stdout and "PrivateKey" not in result.stderr, describe(result)
        keys = {row["public_key"] for row in report["rows"]}
        for name in names:
            config = out / f"{demo.tenant}-{name}.conf"
            assert stat.S_IMODE(os.stat(config).st_mode) == 0o600, config
            assert "PrivateKey" in config.read_text(), config
        assert wait_for(lambda: keys <= pop_peer_keys(demo), timeout=APPLY_DEADLINE), (
            f"the imported peers are not all on wg-edge {APPLY_DEADLINE} s after the import: "
            f"missing {sorted(keys - pop_peer_keys(demo))}"
        )
    finally:
        live = {p["name"] for p in demo.peers()}
        for name in names:
            if name in live:
                demo.popctl_ok("peer", "revoke", name)
    assert wait_for(lambda: not keys & pop_peer_keys(demo), timeout=APPLY_DEADLINE), "revoked peers stay on wg-edge"
    assert not set(names) & {p["name"] for p in demo.peers()}
