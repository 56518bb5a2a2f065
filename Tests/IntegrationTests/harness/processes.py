"""Running commands, on the host and inside network namespaces, each bounded by a timeout; and how a test
skips or fails when a prerequisite is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest


def integration_required() -> bool:
    """CI sets POPGATE_REQUIRE_INTEGRATION=1: then a missing prerequisite is a failure, not a skip."""
    return os.environ.get("POPGATE_REQUIRE_INTEGRATION") == "1"


def require(condition: Any, why: str) -> None:
    """Skips the test when a prerequisite is missing; fails instead when integration tests are required."""
    if condition:
        return
    if integration_required():
        pytest.fail(f"prerequisite missing (POPGATE_REQUIRE_INTEGRATION=1): {why}", pytrace=False)
    pytest.skip(why)


# Proxies configured for the host must not capture traffic meant for the namespaces' own addresses.
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    env.update(extra or {})
    return env


def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion (bounded by `timeout`), capturing its output as text."""
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(env),
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A command's result, for assertion messages."""
    cmd = " ".join(shlex.quote(str(c)) for c in result.args)
    return f"$ {cmd}\nexit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def run_ok(cmd: Sequence[str], *, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """`run`, asserting that the command succeeded (described when it did not)."""
    result = run(cmd, timeout=timeout)
    assert result.returncode == 0, describe(result)
    return result


def ns_cmd(ns: str, cmd: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def ns_run(ns: str, cmd: Sequence[str], *, timeout: float, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command inside network namespace `ns`."""
    return run(ns_cmd(ns, cmd), timeout=timeout, input=input)


def ns_python(ns: str, script: str, args: Any, *, timeout: float) -> Any:
    """Runs a Python script inside `ns` with one JSON argument; the script prints one JSON document."""
    result = ns_run(ns, [sys.executable, "-c", script, json.dumps(args)], timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"helper script failed in {ns}:\n{describe(result)}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as error:
        raise AssertionError(f"helper script in {ns} printed no JSON ({error}):\n{describe(result)}") from None


def stop_process(process: subprocess.Popen | None, timeout: float) -> None:
    """Ends a process this test started: SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def wait_for(predicate, *, timeout: float, interval: float = 0.1) -> bool:
    """Polls `predicate` until it is true or `timeout` seconds have passed (for state with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
