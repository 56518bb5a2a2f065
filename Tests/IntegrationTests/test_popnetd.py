"""popnetd owns the edge interface alone: a second instance with the same configuration refuses to run."""

from __future__ import annotations

import subprocess

from harness.demo import Demo
from harness.http import chat
from harness.processes import clean_env, ns_cmd

MESSAGES = [{"role": "user", "content": "hello"}]


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_second_popnetd_exits_saying_already_running(demo: Demo) -> None:
    first_pid = int((demo.demo_dir / "pids" / "popnetd.pid").read_text())
    assert _pid_alive(first_pid)

    second = subprocess.Popen(
        ns_cmd(demo.pop_ns, [str(demo.bin / "popnetd"), "--config", demo.config]),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        out, err = second.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        # It is running when it must not: stop it (it is ours, by PID) before it fights the first one.
        second.terminate()
        try:
            out, err = second.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            second.kill()
            out, err = second.communicate()
        raise AssertionError(f"a second popnetd kept running for 10 s:\n{out}\n{err}") from None

    assert second.returncode != 0, f"second popnetd exited 0:\n{out}\n{err}"
    assert "already running" in (out + err), f"exit {second.returncode}, output:\n{out}\n{err}"

    assert _pid_alive(first_pid), "the first popnetd died"
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
