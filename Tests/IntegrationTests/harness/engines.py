"""Real inference engines as workers: llama.cpp's server, built once per machine (provisioning/engines/), and the
demo's engines when it runs them (POPGATE_DEMO_WORKERS=engines, provisioning/demo-engines.sh)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from harness.demo import Demo
from harness.http import RequestFailed, http_request
from harness.processes import clean_env, describe, ns_cmd, require, run, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[3]
LLAMA_SERVER_SCRIPT = ROOT / "provisioning" / "engines" / "llama-server.sh"
TINY_GGUF_SCRIPT = ROOT / "provisioning" / "engines" / "tiny_gguf.py"
# A fresh machine compiles llama.cpp (about 6 minutes on 2 cores); later runs take it from the cache.
BUILD_TIMEOUT = 3600
START_TIMEOUT = 60
STOP_TIMEOUT = 10


def llama_server_binary() -> Path:
    """llama-server, built first if this machine has not built it yet."""
    built = run(["bash", str(LLAMA_SERVER_SCRIPT), "build"], timeout=BUILD_TIMEOUT)
    require(built.returncode == 0, f"llama-server could not be built:\n{describe(built)}")
    return Path(built.stdout.strip().splitlines()[-1])


def tiny_model(directory: Path) -> Path:
    """A tiny GGUF (real tokenizer, random weights) in `directory`."""
    vocab = run(["bash", str(LLAMA_SERVER_SCRIPT), "vocab"], timeout=30)
    assert vocab.returncode == 0, describe(vocab)
    path = directory / "popgate-tiny.gguf"
    # The interpreter running the tests is the one `make deps` installed gguf for.
    made = run([sys.executable, str(TINY_GGUF_SCRIPT), "--vocab", vocab.stdout.strip(), "--output", str(path)],
               timeout=120)
    assert made.returncode == 0, describe(made)
    return path


class EngineEndpoint:
    """What a test asks an engine directly, from the namespace `ns` it is reached in (set by the subclass with
    `url`): what the engine says without popgate."""

    ns: str
    url: str

    def health(self) -> int:
        try:
            return http_request(self.ns, "GET", self.url + "/health", timeout=5).status
        except RequestFailed:
            return 0

    def request(self, method: str, path: str, body: object = None, timeout: float = 60):
        return http_request(self.ns, method, self.url + path, json_body=body, timeout=timeout)

    def metrics(self) -> str:
        response = self.request("GET", "/metrics")
        assert response.status == 200, response
        return response.body.decode()


class DemoEngine(EngineEndpoint):
    """One of the demo's llama-servers (`llama-server@NAME`), known by the PID file demo.sh wrote: asked directly
    from the compute namespace, killed as a crash would, and started again the same way (the new PID recorded where
    `demo.sh down` finds it)."""

    def __init__(self, demo: Demo, name: str) -> None:
        self.demo, self.name, self.ns = demo, name, demo.compute_ns
        self.pid_file = demo.demo_dir / "pids" / f"llama-server@{name}.pid"
        self.log_file = demo.demo_dir / "logs" / f"llama-server@{name}.log"
        require(self.pid_file.exists(), f"the demo runs no llama-server@{name}: its workers are not engines")
        self.argv = [part.decode() for part in Path(f"/proc/{self.pid()}/cmdline").read_bytes().split(b"\0") if part]
        option = {self.argv[i]: self.argv[i + 1] for i in range(1, len(self.argv) - 1) if self.argv[i].startswith("--")}
        self.url = f"http://{option['--host']}:{option['--port']}"
        self.alias = option["--alias"]
        self.process: subprocess.Popen[bytes] | None = None

    def pid(self) -> int:
        return int(self.pid_file.read_text())

    def kill(self) -> None:
        """Ends the server at once (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        else:
            pid = self.pid()
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda: not Path(f"/proc/{pid}").exists() or _is_zombie(pid), timeout=STOP_TIMEOUT)

    def start(self) -> None:
        """Starts it again with its first command line and waits until it has loaded its model."""
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(ns_cmd(self.demo.compute_ns, self.argv), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        self.pid_file.write_text(f"{self.process.pid}\n")
        try:
            ready = wait_for(lambda: self.process.poll() is not None or self.health() == 200, timeout=START_TIMEOUT)
            assert ready and self.process.poll() is None, (
                f"llama-server@{self.name} did not become ready in {START_TIMEOUT} s (exit {self.process.poll()})")
        except BaseException:
            stop_process(self.process, STOP_TIMEOUT)
            raise


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
