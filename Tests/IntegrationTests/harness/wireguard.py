"""WireGuard keys and devices: the demo PoP's edge device, a wg-quick config's key, wireguard-go's sockets."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.demo import Demo
from harness.processes import describe, ns_run, run


def pop_wg(demo: Demo, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """`wg ARGS` inside the PoP's namespace."""
    return ns_run(demo.pop_ns, ["wg", *args], timeout=timeout)


def pop_peer_keys(demo: Demo) -> set[str]:
    """The public keys on the PoP's edge device right now."""
    result = pop_wg(demo, "show", "wg-edge", "peers")
    assert result.returncode == 0, describe(result)
    return set(result.stdout.split())


def pop_allowed_ips(demo: Demo) -> dict[str, str]:
    """Public key → allowed IPs (`(none)` when it has none), as `wg show wg-edge allowed-ips` prints them."""
    result = pop_wg(demo, "show", "wg-edge", "allowed-ips")
    assert result.returncode == 0, describe(result)
    return {key: rest.strip() for key, _, rest in (line.partition("\t") for line in result.stdout.splitlines())}


def pop_handshakes(demo: Demo) -> dict[str, int]:
    """Public key → latest handshake (Unix seconds, 0 for never) on the PoP's edge device."""
    result = pop_wg(demo, "show", "wg-edge", "latest-handshakes")
    assert result.returncode == 0, describe(result)
    return {key: int(value) for key, value in (line.split("\t") for line in result.stdout.splitlines())}


def public_key_of_config(path: Path) -> str:
    """The public key of the PrivateKey in a wg-quick config (the same way demo.sh derives it)."""
    private = next(line.split("=", 1)[1].strip() for line in path.read_text().splitlines()
                   if line.replace(" ", "").startswith("PrivateKey="))
    result = run(["wg", "pubkey"], input=private + "\n", timeout=10)
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def remove_stale_wireguard_socket(interface: str) -> None:
    """Removes a userspace WireGuard device's control socket (/var/run/wireguard/IF.sock) that no device answers on
    any more, as a killed wireguard-go leaves it."""
    sock = Path(f"/var/run/wireguard/{interface}.sock")
    if sock.exists() and run(["wg", "show", interface], timeout=10).returncode != 0:
        sock.unlink(missing_ok=True)


def wg_key_pair() -> tuple[str, str]:
    """A fresh WireGuard (private, public) key pair, from `wg`."""
    private = run(["wg", "genkey"], timeout=10).stdout.strip()
    public = run(["wg", "pubkey"], input=private + "\n", timeout=10)
    assert public.returncode == 0 and private, describe(public)
    return private, public.stdout.strip()
