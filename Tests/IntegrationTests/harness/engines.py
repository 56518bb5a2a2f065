"""Real inference engines as workers: llama.cpp's server, built once per machine (provisioning/engines/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.demo import Demo
from harness.gateways import free_port
from harness.http import RequestFailed, http_request
from harness.processes import clean_env, describe, ns_cmd, require, run, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[3]
LLAMA_SERVER_SCRIPT = ROOT / "provisioning" / "engines" / "llama-server.sh"
TINY_GGUF_SCRIPT = ROOT / "provisioning" / "engines" / "tiny_gguf.py"
# A fresh machine compiles llama.cpp (about 6 minutes on 2 cores); later runs take it from the cache.
BUILD_TIMEOUT = 3600
START_TIMEOUT = 60
STOP_TIMEOUT = 10
CONTEXT = 16384  # tokens per slot: tiny_gguf.py's CONTEXT, the model's own


def llama_server_binary() -> Path:
    """llama-server, built first if this machine has not built it yet."""
    built = run(["bash", str(LLAMA_SERVER_SCRIPT), "build"], timeout=BUILD_TIMEOUT)
    require(built.returncode == 0, f"llama-server could not be built:\n{describe(built)}")
    return Path(built.stdout.strip().splitlines()[-1])


def tiny_model(directory: Path) -> Path:
    """A tiny GGUF (real tokenizer, random weights); each server names the model it serves with its own alias."""
    vocab = run(["bash", str(LLAMA_SERVER_SCRIPT), "vocab"], timeout=30)
    assert vocab.returncode == 0, describe(vocab)
    path = directory / "popgate-tiny.gguf"
    # The interpreter running the tests is the one `make deps` installed gguf for.
    made = run([sys.executable, str(TINY_GGUF_SCRIPT), "--vocab", vocab.stdout.strip(), "--output", str(path)],
               timeout=120)
    assert made.returncode == 0, describe(made)
    return path


class LlamaServer:
    """llama-server on the PoP namespace's loopback for a `with` block, started as a PoP would start it: with its
    Prometheus metrics, `slots` parallel slots and the model served under `alias`; stopped by its PID.

    `embeddings` starts it as an embedding server (llama.cpp restricts a server started so to embeddings)."""

    def __init__(self, demo: Demo, binary: Path, model: Path, alias: str, log: Path, *, slots: int = 2,
                 embeddings: bool = False) -> None:
        self.demo, self.alias, self.log_path = demo, alias, log
        self.port = free_port(demo.pop_ns, "127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [str(binary), "--model", str(model), "--alias", alias, "--host", "127.0.0.1",
                        "--port", str(self.port), "--metrics", "--parallel", str(slots),
                        "--ctx-size", str(CONTEXT * slots), "--threads", "1", "--seed", "1"]
        if embeddings:
            self.command += ["--embeddings", "--pooling", "mean"]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "LlamaServer":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Starts the server (again, after `kill`, on the same port) and waits until it says it is ready."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(ns_cmd(self.demo.pop_ns, self.command), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        try:
            ready = wait_for(lambda: self.process.poll() is not None or self.health() == 200, timeout=START_TIMEOUT)
            assert ready and self.process.poll() is None, (
                f"llama-server did not become ready in {START_TIMEOUT} s (exit {self.process.poll()}):\n"
                f"{self.log()[-3000:]}")
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """Ends the server at once (SIGKILL), as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> int:
        try:
            return http_request(self.demo.pop_ns, "GET", self.url + "/health", timeout=5).status
        except RequestFailed:
            return 0

    def request(self, method: str, path: str, body: object = None, timeout: float = 60):
        """A request straight to the engine, from the PoP's namespace: what the engine says without popgate."""
        return http_request(self.demo.pop_ns, method, self.url + path, json_body=body, timeout=timeout)

    def metrics(self) -> str:
        response = self.request("GET", "/metrics")
        assert response.status == 200, response
        return response.body.decode()


def backend_section(name: str, server: LlamaServer, revision: str | None = None) -> str:
    """A [[backends]] table for `server`, a llamacpp worker, with the revision of its model's weights if given (the
    engine reports none itself)."""
    section = (f'\n[[backends]]\nname = "{name}"\nurl = "{server.url}"\nmodels = [{json.dumps(server.alias)}]\n'
               'kind = "llamacpp"\n')
    if revision is not None:
        section += f"model_revisions = {{ {json.dumps(server.alias)} = {json.dumps(revision)} }}\n"
    return section
