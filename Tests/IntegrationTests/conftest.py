"""pytest setup for popgate's integration tests.

The tests need root, network namespaces, wireguard-go and the built binaries. Without them they skip, saying
why; with POPGATE_REQUIRE_INTEGRATION=1 (CI, via .ci/run) a missing prerequisite fails instead.

One demo (provisioning/demo.sh up) serves the whole session; `demo.sh down` always runs afterwards, also when
`up` failed half-way. Its workers are the simulators, or in a session of tests marked `engine` (`pytest -m engine`)
llama.cpp's own server: the two kinds of test never share a session. So does one PostgreSQL database on loopback: `make test`'s (POPGATE_TEST_POSTGRES_URL, shared
with `swift test`) or, without it, a throwaway cluster of the session's own (Tests/support/throwaway-postgres.sh).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness.binaries import BIN, BINARIES, binary_problem
from harness.demo import DEMO_SCRIPT, Demo, parse_env_file
from harness.engines import llama_server_binary
from harness.postgres import POSTGRES_BINDIR, POSTGRES_SCRIPT
from harness.processes import describe, require, run

DEMO_DIR = Path("/run/popgate-demo")
MULTI_POP_DIR = Path("/run/popgate-multipop")  # test_multi_pop.py's fleet
UP_TIMEOUT = 180  # demo.sh bounds each of its own waits (≤30 s); this only guards against a hang
DOWN_TIMEOUT = 120
# throwaway-postgres.sh bounds each of its own waits (initdb 120 s, start and stop 35 s): these only guard a hang.
POSTGRES_START_TIMEOUT = 240
POSTGRES_STOP_TIMEOUT = 120


# The demo, the multi-PoP fleet and the namespaces the tests name are one machine's: two pytest sessions at once (a
# developer's and a fresh clone's run of `make test`) would tear down each other's. A session holds this lock from
# the end of its collection to its end; another waits for it. Tests in a VM of their own (marker kernel_vm: the VM
# has no network device and its own kernel) touch none of it, so a session of only those takes no lock: `make test`
# runs it beside the others.
SESSION_LOCK = Path("/run/popgate-integration.lock")
SESSION_LOCK_WAIT = 3600  # s: a whole run of the suite takes well under this
_session_lock: int | None = None
# The demo's workers for this session (demo.sh's POPGATE_DEMO_WORKERS), from the tests selected.
_demo_workers = "simulators"


def _choose_demo_workers(items: list[pytest.Item]) -> str:
    """engines when the selected tests that use the demo are all marked `engine`; a session that mixes them with
    other demo tests is refused, as one demo cannot run both kinds of worker."""
    on_demo = [item for item in items if "demo" in getattr(item, "fixturenames", ())]
    engines = [item for item in on_demo if item.get_closest_marker("engine")]
    if engines and len(engines) < len(on_demo):
        raise pytest.UsageError(
            "tests marked engine run against a demo whose workers are real engines, the others against simulators: "
            "select one kind per session (-m engine, or -m 'not engine')")
    return "engines" if engines else "simulators"


def pytest_collection_finish(session: pytest.Session) -> None:
    global _session_lock, _demo_workers
    _demo_workers = _choose_demo_workers(session.items)
    if os.geteuid() != 0 or getattr(session.config.option, "collectonly", False):
        return  # without root nothing here touches the machine's network
    if all(item.get_closest_marker("kernel_vm") for item in session.items):
        return
    descriptor = os.open(SESSION_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + SESSION_LOCK_WAIT
    told = False
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(descriptor)
                raise pytest.UsageError(f"another integration session has held {SESSION_LOCK} for "
                                        f"{SESSION_LOCK_WAIT} s; is a run of the suite stuck?")
            if not told:
                print(f"\nwaiting for another integration session to end (it holds {SESSION_LOCK})", flush=True)
                told = True
            time.sleep(1)  # flock has no wait with a time limit; the lock's release is polled
    _session_lock = descriptor


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _session_lock
    if _session_lock is not None:
        os.close(_session_lock)  # closing the descriptor releases the lock
        _session_lock = None


# Markers select tests by what they need or how long they run (`-m soak`, `-m "not kernel_vm"`). The first five are
# set in the modules; the last two follow from the fixtures a test uses, so they cannot be forgotten.
MARKERS = {
    "soak": "has a long form, run with POPGATE_SOAK=1 (`make soak` selects these)",
    "kernel_vm": "runs popgate's kernel WireGuard backend inside a QEMU VM",
    "provisioning": "provisions a Debian 12 tree with bootstrap-pop.sh and boots it in a container",
    "engine": "runs a real inference engine (llama.cpp's server or vLLM, built once per machine) as a worker",
    "spare_cores": "needs cores the engine under test leaves free: on two, vLLM's generation stalls every other "
                   "process for seconds (`make test` leaves these out; run them with -m spare_cores)",
    "demo": "runs against the session's demo (set from the `demo` fixture)",
    "postgres": "needs a PostgreSQL cluster (set from the `postgres_url` and `fleet` fixtures)",
}
POSTGRES_FIXTURES = {"postgres_url", "fleet"}


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    registered = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "demo" in fixtures:
            item.add_marker("demo")
        if fixtures & POSTGRES_FIXTURES:
            item.add_marker("postgres")
        # A misspelt marker would silently select nothing.
        unknown = {mark.name for mark in item.iter_markers()} - registered
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unregistered marker(s) {sorted(unknown)}; see MARKERS in conftest.py")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({error})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing test that used the demo shows the end of each daemon's log (the demo removes them on down)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "demo" in getattr(item, "fixturenames", ()):
        for log in sorted((DEMO_DIR / "logs").glob("*.log")):
            report.sections.append((f"{log.name} (last lines)", _tail(log)))
    if report.failed and "fleet" in getattr(item, "fixturenames", ()):
        for log in sorted((MULTI_POP_DIR / "logs").glob("*.log")):
            report.sections.append((f"{log.name} (last lines)", _tail(log)))


def _demo_sh(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return run(["bash", str(DEMO_SCRIPT), *args], timeout=timeout,
               env={"POPGATE_BIN": str(BIN), "POPGATE_DEMO_WORKERS": _demo_workers})


def require_network_prerequisites() -> None:
    require(os.geteuid() == 0, "needs root (network namespaces, WireGuard interfaces)")
    for tool in ("ip", "wg", "wg-quick", "wireguard-go", "curl"):
        require(shutil.which(tool), f"{tool} is not installed (`make deps`)")
    require(Path("/dev/net/tun").exists(), "/dev/net/tun is missing: wireguard-go needs TUN")


@pytest.fixture(scope="session")
def built() -> None:
    """The four binaries exist and are real programs."""
    for name in BINARIES:
        problem = binary_problem(name)
        require(problem is None, problem or "")


@pytest.fixture(scope="session")
def demo(built: None) -> Iterator[Demo]:
    """The running demo: namespaces, workers, popnetd, popgated, tenant acme, peer laptop, a client tunnel."""
    require_network_prerequisites()
    if _demo_workers == "engines":
        llama_server_binary()  # built here, where its time is allowed for, if this machine has not built it yet
    # A run that was killed may have left the demo behind; `down` is safe when nothing is there.
    _demo_sh("down", timeout=DOWN_TIMEOUT)
    came_up = False
    try:
        up = _demo_sh("up", timeout=UP_TIMEOUT)
        if up.returncode != 0:
            pytest.fail(f"demo.sh up failed:\n{describe(up)}", pytrace=False)
        came_up = True
        yield Demo(parse_env_file(DEMO_DIR / "env"))
    finally:
        down = _demo_sh("down", timeout=DOWN_TIMEOUT)
        if down.returncode != 0:
            message = f"demo.sh down failed:\n{describe(down)}"
            # Something left behind would break the next run: an error here, not a mystery there (but never
            # in place of the failure of `up` that is already on its way).
            if came_up:
                pytest.fail(message, pytrace=False)
            print(message)


def _throwaway_postgres(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return run(["bash", str(POSTGRES_SCRIPT), *args], timeout=timeout)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """postgres://popgate@127.0.0.1:PORT/popgate: a database on loopback, popgate its superuser, trust auth."""
    url = os.environ.get("POPGATE_TEST_POSTGRES_URL")
    if url:
        # `make test` started it for both suites and stops it afterwards.
        yield url
        return
    for tool in ("initdb", "pg_ctl", "postgres", "psql"):
        require(os.access(POSTGRES_BINDIR / tool, os.X_OK),
                f"{POSTGRES_BINDIR / tool} is missing: PostgreSQL 15 is not installed (`make deps`)")
    # Under /tmp, which the postgres user (who runs the server when we are root) can reach.
    directory = tempfile.mkdtemp(prefix="popgate-pg.", dir="/tmp")
    started = False
    try:
        start = _throwaway_postgres("start", directory, timeout=POSTGRES_START_TIMEOUT)
        if start.returncode != 0:
            pytest.fail(f"throwaway-postgres.sh start failed:\n{describe(start)}", pytrace=False)
        started = True
        yield start.stdout.strip()
    finally:
        # Also after a failed start: the script stops whatever did start and removes the directory.
        stop = _throwaway_postgres("stop", directory, timeout=POSTGRES_STOP_TIMEOUT)
        if stop.returncode != 0:
            message = f"throwaway-postgres.sh stop failed (a server may be left running):\n{describe(stop)}"
            if started:
                pytest.fail(message, pytrace=False)
            print(message)
