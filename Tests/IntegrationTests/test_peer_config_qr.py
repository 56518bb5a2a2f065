"""`popctl peer config --qr`: the QR code drawn on the terminal decodes, with a real QR decoder, to the config.

The half-block text popctl prints is turned back into an image (light where a glyph is drawn, dark where it is
blank, as a phone sees it on a light-on-dark terminal), written as a PNG and read by `zbarimg` (Debian
`zbar-tools`). Needs no root and no network namespace: popctl runs against a SQLite registry of its own.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import zlib
from pathlib import Path

import pytest

from harness.binaries import BIN
from harness.postgres import registry_config
from harness.processes import describe, require, run
from harness.wireguard import wg_key_pair

POPCTL_TIMEOUT = 30
ZBARIMG_TIMEOUT = 30
PIXELS_PER_MODULE = 6
FULL, UPPER, LOWER = "\u2588", "\u2580", "\u2584"
SGR = re.compile(r"\x1b\[[0-9;]*m")


class Pop:
    """popctl against a throwaway PoP configuration with one tenant and a phone registered by public key."""

    def __init__(self, directory: Path) -> None:
        self.config = registry_config(directory, f'path = "{directory}/registry.sqlite"')
        self.ok("tenant", "add", "acme")
        private, self.public_key = wg_key_pair()
        self.key_file = directory / "phone.key"
        self.key_file.touch(mode=0o600)
        self.key_file.write_text(private + "\n")
        self.ok("peer", "add", "--tenant", "acme", "--name", "phone", "--public-key", self.public_key,
                "--output", str(directory / "issued.conf"))

    def popctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([str(BIN / "popctl"), *args, "--config", str(self.config)], timeout=POPCTL_TIMEOUT)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.popctl(*args)
        assert result.returncode == 0, describe(result)
        return result


@pytest.fixture
def pop(built: None, tmp_path: Path) -> Pop:
    require(shutil.which("wg"), "wg is not installed (`make deps`): the phone needs a WireGuard key pair")
    return Pop(tmp_path)


def modules_of(text: str) -> list[list[bool]]:
    """Rows of modules, True for light, from popctl's half-block text: each line holds two rows."""
    rows: list[list[bool]] = []
    for line in text.splitlines():
        assert set(line) <= {FULL, UPPER, LOWER, " "}, f"unexpected characters in {line!r}"
        rows.append([c in (FULL, UPPER) for c in line])
        rows.append([c in (FULL, LOWER) for c in line])
    widths = {len(row) for row in rows}
    assert len(widths) == 1, f"lines of different widths: {sorted(widths)}"
    return rows


def write_png(path: Path, rows: list[list[bool]], scale: int = PIXELS_PER_MODULE) -> None:
    """An 8-bit greyscale PNG (RFC 2083) of `rows`, light white and dark black, each module scale×scale pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    width, height = len(rows[0]) * scale, len(rows) * scale
    raw = b"".join(
        b"\x00" + bytes(255 if light else 0 for light in row for _ in range(scale))  # filter type 0 per line
        for row in rows for _ in range(scale)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def decode(image: Path) -> str:
    zbarimg = shutil.which("zbarimg")
    require(zbarimg, "zbarimg is not installed (`make deps` installs zbar-tools)")
    # -Sbinary: the symbol's bytes as they are, with no charset guess and no newline appended.
    result = subprocess.run([zbarimg, "--quiet", "--raw", "-Sbinary", str(image)], capture_output=True,
                            timeout=ZBARIMG_TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"zbarimg found no QR code in {image}: {result.stderr.decode(errors='replace')}"
    return result.stdout.decode()


def run_in_terminal(args: list[str], columns: int = 120) -> tuple[str, str]:
    """Runs a command with a pseudo-terminal of `columns` as its standard output (as an operator's shell does) and
    returns what it printed there, and on standard error."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    try:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE)
    finally:
        os.close(follower)
    output = bytearray()
    try:
        while select.select([leader], [], [], POPCTL_TIMEOUT)[0]:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command has exited and closed the terminal
                break
            if not data:
                break
            output += data
    finally:
        os.close(leader)
        returncode = process.wait(timeout=POPCTL_TIMEOUT)
    errors = process.stderr.read().decode()
    assert returncode == 0, f"$ {' '.join(args)}\nexit {returncode}\n{errors}"
    # The terminal turns each "\n" into "\r\n".
    return output.decode().replace("\r\n", "\n"), errors


def test_the_qr_code_decodes_to_the_complete_config(pop: Pop, tmp_path: Path) -> None:
    config = pop.ok("peer", "config", "phone", "--private-key-file", str(pop.key_file)).stdout
    assert re.search(r"^PrivateKey = \S+=$", config, re.M) and "PresharedKey = " in config, config

    shown = pop.ok("peer", "config", "phone", "--private-key-file", str(pop.key_file), "--qr")
    assert "\x1b[" not in shown.stdout, "colours written to a pipe"
    rows = modules_of(shown.stdout)
    assert len(rows[0]) <= 80, f"{len(rows[0])} columns: wider than a standard terminal"
    # The quiet zone: at least 4 light modules all round (the last line's lower half lies below the image).
    assert all(rows[0]) and all(rows[3]) and all(rows[-2]) and all(rows[-5]), "no light quiet zone above or below"
    assert all(row[:4] == [True] * 4 and row[-4:] == [True] * 4 for row in rows[:-1]), "no quiet zone at the sides"
    write_png(tmp_path / "qr.png", rows[:-1])
    assert decode(tmp_path / "qr.png") == config


def test_on_a_terminal_the_code_is_pinned_white_on_black_and_still_decodes(pop: Pop, tmp_path: Path) -> None:
    config = pop.ok("peer", "config", "phone", "--private-key-file", str(pop.key_file)).stdout
    command = [str(BIN / "popctl"), "peer", "config", "phone", "--private-key-file", str(pop.key_file), "--qr",
               "--config", str(pop.config)]
    shown, errors = run_in_terminal(command)
    assert "warning" not in errors, errors
    lines = shown.splitlines()
    assert lines and all(line.startswith("\x1b[97;40m") and line.endswith("\x1b[0m") for line in lines), shown[:200]
    write_png(tmp_path / "qr.png", modules_of(SGR.sub("", shown))[:-1])
    assert decode(tmp_path / "qr.png") == config

    _, errors = run_in_terminal(command, columns=60)
    assert "columns wide but this terminal has 60" in errors, errors


def test_with_output_the_file_gets_the_config_and_the_terminal_the_code(pop: Pop, tmp_path: Path) -> None:
    path = tmp_path / "phone.conf"
    shown = pop.ok("peer", "config", "phone", "--private-key-file", str(pop.key_file), "--qr", "--output", str(path))
    assert path.stat().st_mode & 0o777 == 0o600
    write_png(tmp_path / "qr.png", modules_of(shown.stdout)[:-1])
    assert decode(tmp_path / "qr.png") == path.read_text()


def test_refusals_exit_with_their_status_and_say_what_to_do(pop: Pop, tmp_path: Path) -> None:
    no_key = pop.popctl("peer", "config", "phone", "--qr")
    assert no_key.returncode == 2 and "--private-key-file" in no_key.stderr, describe(no_key)
    assert not no_key.stdout, describe(no_key)

    other = tmp_path / "other.key"
    other.touch(mode=0o600)
    other.write_text(wg_key_pair()[0] + "\n")
    wrong = pop.popctl("peer", "config", "phone", "--private-key-file", str(other), "--qr")
    assert wrong.returncode == 1 and pop.public_key in wrong.stderr, describe(wrong)
    assert not wrong.stdout, describe(wrong)

    unknown = pop.popctl("peer", "config", "tablet", "--private-key-file", str(pop.key_file), "--qr")
    assert unknown.returncode == 1 and '"tablet"' in unknown.stderr, describe(unknown)


def test_peer_add_qr_shows_the_new_config_with_its_generated_key(pop: Pop, tmp_path: Path) -> None:
    path = tmp_path / "tablet.conf"
    shown = pop.ok("peer", "add", "--tenant", "acme", "--name", "tablet", "--qr", "--output", str(path))
    config = path.read_text()
    assert re.search(r"^PrivateKey = \S+=$", config, re.M), config
    write_png(tmp_path / "qr.png", modules_of(shown.stdout)[:-1])
    assert decode(tmp_path / "qr.png") == config

    # With the device's own key the PoP never sees the private key: no code can carry it.
    refused = pop.popctl("peer", "add", "--tenant", "acme", "--name", "laptop", "--qr",
                         "--public-key", wg_key_pair()[1])
    assert refused.returncode == 1 and "--public-key" in refused.stderr, describe(refused)
    assert "laptop" not in pop.ok("peer", "list").stdout
