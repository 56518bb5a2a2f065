"""vLLM's OpenAI server (its CPU build, installed once per machine by provisioning/engines/vllm.sh) as a worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from harness.demo import Demo
from harness.engines import EngineEndpoint
from harness.gateways import free_port
from harness.processes import clean_env, describe, ns_cmd, require, run, wait_for

ROOT = Path(__file__).resolve().parents[3]
VLLM_SCRIPT = ROOT / "provisioning" / "engines" / "vllm.sh"
TINY_MODEL_SCRIPT = ROOT / "provisioning" / "engines" / "tiny_hf_model.py"
INSTALL_TIMEOUT = 3600
# Three processes (API server, engine core, worker) each import torch and vLLM: about 45 s on 2 cores with
# --enforce-eager, more on a loaded machine. The HTTP port opens only once the engine is ready.
START_TIMEOUT = 240
STOP_TIMEOUT = 15
MAX_MODEL_LEN = 4096  # the tiny model's own context (tiny_hf_model.py)
# The engine's line on its scheduler, logged every VLLM_LOG_STATS_INTERVAL seconds.
_SCHEDULER_LINE = re.compile(r"Running: (\d+) reqs, Waiting: (\d+) reqs")


def vllm_python() -> Path:
    """The python of vLLM's venv, installed first if this machine has not installed it yet."""
    installed = run(["bash", str(VLLM_SCRIPT), "install"], timeout=INSTALL_TIMEOUT)
    require(installed.returncode == 0, f"vLLM could not be installed:\n{describe(installed)}")
    return Path(installed.stdout.strip().splitlines()[-1])


def tiny_model(python: Path, directory: Path) -> Path:
    """A tiny Hugging Face model directory (real tokenizer; vLLM makes up the weights) in `directory`."""
    path = directory / "popgate-tiny-hf"
    made = run([str(python), str(TINY_MODEL_SCRIPT), "--output", str(path)], timeout=120)
    assert made.returncode == 0, describe(made)
    return path


def _session_members(session: int) -> list[int]:
    """The PIDs of every process in session `session` (the server and whatever it spawned)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses: the fields after it follow the last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session:  # state, ppid, pgrp, session
            members.append(int(entry.name))
    return members


class VllmServer(EngineEndpoint):
    """vLLM's OpenAI server on the PoP namespace's loopback for a `with` block, serving `model` under `name` with
    weights it makes up (`--load-format dummy`), at most `max_num_seqs` requests at once and, with `priority`, its
    priority scheduler; stopped by its process group.

    It spawns an engine process, which spawns a worker: the server is started as the leader of its own session, so
    that one signal to the group reaches all of them, and the stop checks that no member of the session is left."""

    def __init__(self, demo: Demo, python: Path, model: Path, name: str, work: Path, log: Path, *,
                 max_num_seqs: int, priority: bool) -> None:
        self.demo, self.name, self.work, self.log_path = demo, name, work, log
        self.port = free_port(demo.pop_ns, "127.0.0.1")
        self.url, self.ns = f"http://127.0.0.1:{self.port}", demo.pop_ns
        self.command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                        "--served-model-name", name, "--host", "127.0.0.1", "--port", str(self.port),
                        "--load-format", "dummy", "--dtype", "float32", "--enforce-eager",
                        "--max-model-len", str(MAX_MODEL_LEN), "--seed", "0", "--max-num-seqs", str(max_num_seqs),
                        # The gateway's checks read these every second; logged, they bury the engine's own lines.
                        "--disable-access-log-for-endpoints", "/health,/metrics,/v1/models"]
        if priority:
            self.command += ["--scheduling-policy", "priority"]
        self.env = clean_env({
            "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB: the default takes a share of the machine's memory
            # Its worker's OpenMP threads on the first core only, waiting passively: by default they take every core
            # and spin between steps, and on two cores every other process (the gateway, the tests' own helpers,
            # new connections) then stalls for seconds while it generates.
            "VLLM_CPU_OMP_THREADS_BIND": "0", "OMP_WAIT_POLICY": "PASSIVE",
            # The engine logs its requests running and waiting every second instead of every ten: a failed test's
            # log then shows its queue.
            "VLLM_LOG_STATS_INTERVAL": "1",
            # Its engine's sockets, compile caches and temporary files stay in `work`, not in /tmp or ~/.cache.
            "TMPDIR": str(work), "VLLM_RPC_BASE_PATH": str(work), "VLLM_CACHE_ROOT": str(work / "cache"),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
        })
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    def __enter__(self) -> "VllmServer":
        self.work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(ns_cmd(self.demo.pop_ns, self.command), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        try:
            ready = wait_for(lambda: self.process.poll() is not None or self.health() == 200,
                             timeout=START_TIMEOUT, interval=0.5)
            assert ready and self.process.poll() is None, (
                f"vLLM did not become ready in {START_TIMEOUT} s (exit {self.process.poll()}):\n{self.log()[-4000:]}")
            self.startup_seconds = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL to whatever of its session is left after STOP_TIMEOUT."""
        if self.process is None:
            return
        session = self.process.pid  # a session leader's PID is its session's and its group's id
        try:
            os.killpg(session, signal.SIGTERM)
        except ProcessLookupError:
            pass
        ended = wait_for(lambda: not _session_members(session), timeout=STOP_TIMEOUT, interval=0.2)
        if not ended:
            for pid in _session_members(session):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        left = _session_members(session)
        assert not left, f"vLLM's processes {left} outlived SIGKILL"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def logged_loads(self, since: int) -> list[tuple[int, int]]:
        """The (running, waiting) requests the engine has logged since the log was `since` bytes long.

        On two busy cores vLLM's API server answers HTTP, /metrics too, seconds late while it generates (its event
        loop also relays every answer), but its engine's line on the scheduler is logged every second regardless."""
        with open(self.log_path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        return [(int(running), int(waiting)) for running, waiting in _SCHEDULER_LINE.findall(text)]


def backend_section(name: str, server: VllmServer, priority_scheduling: bool) -> str:
    """A [[backends]] table for `server`, a vllm worker; with `priority_scheduling`, the gateway sends each request
    its tier's priority."""
    return (f'\n[[backends]]\nname = "{name}"\nurl = "{server.url}"\nmodels = [{json.dumps(server.name)}]\n'
            f'kind = "vllm"\npriority_scheduling = {"true" if priority_scheduling else "false"}\n')
