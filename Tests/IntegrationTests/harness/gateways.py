"""A second popgated in the PoP's namespace, beside the demo's."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from harness.demo import Demo
from harness.processes import clean_env, describe, ns_cmd, ns_python, ns_run, run, stop_process, wait_for


SECOND_GATEWAY_START_TIMEOUT = 15
SECOND_GATEWAY_STOP_TIMEOUT = 10

_FREE_PORT_SCRIPT = r"""
import json, socket, sys
a = json.loads(sys.argv[1])
s = socket.socket(); s.bind((a["host"], 0)); print(json.dumps(s.getsockname()[1])); s.close()
"""


def free_port(ns: str, host: str) -> int:
    """A TCP port nothing in `ns` is bound to on `host` right now."""
    return ns_python(ns, _FREE_PORT_SCRIPT, {"host": host}, timeout=10)


def listening(ns: str, port: int) -> bool:
    """Whether some socket in `ns` listens on TCP `port` (asked of the kernel, not of a log line)."""
    return bool(ns_run(ns, ["ss", "-Hltn", f"sport = :{port}"], timeout=10).stdout.strip())


def second_gateway_config(text: str, port: int, *, gateway: Sequence[str] = (), sections: str = "") -> str:
    """A copy of a popgate.toml whose [gateway] listens on `port`, with the `gateway` lines added to [gateway]
    (replacing those keys) and `sections` (more TOML tables) appended.

    Its [metrics] section is left out (then popgated serves no metrics): the demo's gateway holds that port. So is its
    [receipts] section: a receipt log has one writer, and SecondGateway gives the second popgated its own.
    """
    replaced = {"listen_port", *(line.split("=", 1)[0].strip() for line in gateway)}
    lines, section, seen = [], None, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.split("#", 1)[0].strip()
            if section not in ("[metrics]", "[receipts]"):
                lines.append(line)
            if section == "[gateway]":
                seen = True
                lines += [f"listen_port = {port}", *gateway]
            continue
        key = stripped.split("=", 1)[0].strip()
        if section in ("[metrics]", "[receipts]") or section == "[gateway]" and key in replaced:
            continue
        lines.append(line)
    if not seen:
        lines += ["", "[gateway]", f"listen_port = {port}", *gateway]
    return "\n".join(lines) + "\n" + sections


def without_tables(text: str, names: set[str]) -> str:
    """`text` (TOML) without the tables whose header (`[name]` or `[[name]]`) is in `names`."""
    kept, dropping = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            dropping = stripped.split("#", 1)[0].strip().strip("[]").strip() in names
        if not dropping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def receipts_section(workdir: Path) -> str:
    """A [receipts] section keeping a gateway's receipt log and signing key under `workdir`."""
    return (f'\n[receipts]\ndirectory = "{workdir}/receipts"\nsigning_key_file = "{workdir}/keys/receipts.key"\n')


class SecondGateway:
    """popgated started in the PoP's namespace with `config` (written to `<demo dir>/<name>/popgate.toml`), for
    the length of a `with` block; stopped by its PID on exit, also after a failure.

    The log is `<demo dir>/logs/popgated@<name>.log`, which conftest shows when a test fails and `demo.sh down`
    removes with the rest of the demo's directory.
    """

    def __init__(self, demo: Demo, name: str, config: str, port: int) -> None:
        self.demo, self.name, self.port = demo, name, port
        self.workdir = demo.demo_dir / name
        self.config_path = self.workdir / "popgate.toml"
        self.log_path = demo.demo_dir / "logs" / f"popgated@{name}.log"
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "SecondGateway":
        self.workdir.mkdir(exist_ok=True)
        self.config_path.write_text(self.config + receipts_section(self.workdir))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ns_cmd(self.demo.pop_ns, [str(self.demo.bin / "popgated"), "--config", str(self.config_path)]),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        try:
            # Nothing popgated does announces "listening" but a log line whose wording may change: ask the kernel.
            up = wait_for(lambda: self.process.poll() is not None or listening(self.demo.pop_ns, self.port),
                          timeout=SECOND_GATEWAY_START_TIMEOUT)
            assert up and self.process.poll() is None, (
                f"the second popgated ({self.name}, port {self.port}) did not start listening within "
                f"{SECOND_GATEWAY_START_TIMEOUT} s (exit status {self.process.poll()}):\n{self.log()[-3000:]}"
            )
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    def _stop(self) -> None:
        stop_process(self.process, SECOND_GATEWAY_STOP_TIMEOUT)
        self.config_path.unlink(missing_ok=True)


@contextmanager
def small_receipt_disk(demo: Demo, name: str, size: str = "1m") -> Iterator[Path]:
    """The receipt directory SecondGateway(demo, name, …) uses, on a tmpfs of `size` of its own, so that a test can fill
    it; unmounted when the block ends (after the gateway, when the gateway's block is inside this one)."""
    log = demo.demo_dir / name / "receipts"
    log.mkdir(parents=True, exist_ok=True)
    mounted = run(["mount", "-t", "tmpfs", "-o", f"size={size}", f"popgate-{name}-receipts", str(log)], timeout=10)
    assert mounted.returncode == 0, describe(mounted)
    try:
        yield log
    finally:
        run(["umount", str(log)], timeout=10)

