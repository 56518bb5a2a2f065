"""Daemons a module starts in namespaces of its own (test_multi_pop.py, test_ipv6_pool.py), and the module
fixture that builds and removes them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from harness.binaries import BIN
from harness.processes import clean_env, describe, ns_cmd, run, wait_for


DAEMON_STOP_TIMEOUT = 10


class Daemons:
    """The processes a module starts itself, each in a namespace, remembered by PID (never looked up by name) and
    logging to `<logs>/<name>.log`; and popctl, run in one namespace with one configuration."""

    def __init__(self, logs: Path, *, popctl_ns: str, popctl_config: Path, wait_timeout: float,
                 wait_interval: float = 0.1) -> None:
        self.logs = logs
        self.popctl_ns, self.popctl_config = popctl_ns, popctl_config
        self.wait_timeout, self.wait_interval = wait_timeout, wait_interval
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, ns: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(ns_cmd(ns, [*args]), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=clean_env())
        self.processes.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def print_logs(self) -> None:
        """Every process's log, as captured output (pytest shows it when a test fails)."""
        for name, _ in self.processes:
            print(f"----- {name} -----\n{self.log(name)}")

    def check_alive(self) -> None:
        for name, process in self.processes:
            assert process.poll() is None, f"{name} exited ({process.returncode}):\n{self.log(name)}"

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Waits for `predicate`, failing early (with its log) when one of the processes has exited."""
        timeout = self.wait_timeout if timeout is None else timeout

        def ready() -> bool:
            self.check_alive()
            return predicate()
        assert wait_for(ready, timeout=timeout, interval=self.wait_interval), (
            f"gave up after {timeout} s waiting for {what}")

    def stop_all(self) -> None:
        """Terminates the processes by PID, last started first, and waits for each (killing what does not end)."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=DAEMON_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=DAEMON_STOP_TIMEOUT)

    def popctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run(ns_cmd(self.popctl_ns, [str(BIN / "popctl"), *args, "--config", str(self.popctl_config)]),
                   timeout=timeout)

    def popctl_ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.popctl(*args)
        assert result.returncode == 0, describe(result)
        return result


D = TypeVar("D", bound=Daemons)


def own_topology(daemons: D, start: Callable[[D], None], teardown: Callable[[D | None], list[str]]) -> Iterator[D]:
    """The body of a module fixture that builds and removes everything it uses (`yield from` it): removes what a
    killed run left, starts, yields `daemons`; prints every process's log when starting fails (the teardown removes
    them); always tears down, failing on what `teardown` could not remove (the problems it returns)."""
    teardown(None)  # what a killed run left
    try:
        start(daemons)
        yield daemons
    except BaseException:
        daemons.print_logs()
        raise
    finally:
        problems = teardown(daemons)
        assert not problems, "\n".join(problems)
