"""`make install` and bootstrap-pop.sh on a real Debian 12 tree, and that tree booted with systemd.

A minimal Debian 12 root is made with debootstrap (cached as a tarball under POPGATE_DEBOOTSTRAP_CACHE, default
/var/cache/popgate-debootstrap, so later runs need no mirror for it). popgate is installed into it with
`make install DESTDIR=…`, then provisioned twice with `bootstrap-pop.sh --root`: the second run must change
nothing, down to every file's bytes, owner, mode and modification time. The provisioned tree is then booted in
a container (systemd-nspawn, the host's kernel) and the installed units must come up, hardened as written: the
boot firewall first, popnetd with CAP_NET_ADMIN only, popgated as user popgate with no capability. A client on
the other end of a veth pair then gets an answer through a WireGuard tunnel to the booted PoP.

This machine's kernel has no WireGuard module, so the tree is provisioned with `--wireguard-backend userspace`
(wireguard-go in the container); the kernel backend's unit differs only by the drop-in that option adds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness.binaries import BIN, REPO
from harness.namespaces import take_down
from harness.processes import describe, require, run, wait_for
from harness.systemd import unit_exposure
from topology import Container

pytestmark = pytest.mark.provisioning

CACHE = Path(os.environ.get("POPGATE_DEBOOTSTRAP_CACHE", "/var/cache/popgate-debootstrap"))
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
# What every Debian 12 server has that minbase leaves out: an init system and a system bus.
INCLUDE = "systemd-sysv,dbus"
DEBOOTSTRAP_TIMEOUT = 900
INSTALL_TIMEOUT = 3600  # builds the release if `make release` has not (make test has)
BOOTSTRAP_TIMEOUT = 600  # the first run installs packages from the mirror
BOOT_TIMEOUT = 180
PREFIX = "/usr/local"
# The booted node's network (provisioning/topology.py's container layout): the host ends of the container's veth
# pairs (the container ends are up0 and bb0, as popgate.toml names them), each moved into a namespace of its own, a
# client on the uplink and an inference worker on the backbone.
NODE = Container("pgprov", uplink_dev="pgprov-up", backbone_dev="pgprov-bb")
SITE = [
    "--pop-name", "pop-test-1", "--tunnel-address", NODE.pop_tunnel, "--endpoint", f"{NODE.pop_address}:51820",
    "--uplink", "up0", "--backbone", "bb0", "--backend-url", f"http://{NODE.compute_address}:8000",
    "--model", "sim-small",
    "--wireguard-backend", "userspace",
]
DOCUMENTED_LAYOUT = {
    "sbin/popnetd", "sbin/popgated", "bin/popctl", "bin/popaudit",
    "lib/systemd/system/popgate-firewall.service", "lib/systemd/system/popnetd.service",
    "lib/systemd/system/popgated.service", "lib/systemd/system/popgate-node-init.service",
    "share/popgate/bootstrap-pop.sh", "share/popgate/popgate.toml.in", "share/popgate/popgate.nft",
    "share/bash-completion/completions/popctl", "share/zsh/site-functions/_popctl",
    "share/fish/vendor_completions.d/popctl.fish",
}
EXPOSURE_BOUNDS = {"popgated.service": 1.5, "popnetd.service": 2.0}
# Linux capability numbers (linux/capability.h).
CAP_NET_ADMIN = 12


def debootstrap_root(target: Path) -> None:
    """A fresh Debian 12 tree in `target`, from the cache or the mirror."""
    tarball = CACHE / f"{SUITE}-minbase-{INCLUDE.replace(',', '+')}.tar"
    if not tarball.exists():
        require(shutil.which("debootstrap"), "debootstrap is not installed (`make deps`)")
        staging = target.parent / "debootstrap-staging"
        shutil.rmtree(staging, ignore_errors=True)
        result = run(["debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, str(staging), MIRROR],
                     timeout=DEBOOTSTRAP_TIMEOUT)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            require(False, f"debootstrap {SUITE} failed (is {MIRROR} reachable?): {describe(result)[-2000:]}")
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        assert run(["tar", "-C", str(staging), "--numeric-owner", "-cf", str(partial), "."], timeout=300).returncode == 0
        partial.rename(tarball)
        shutil.rmtree(staging)
    target.mkdir()
    result = run(["tar", "-C", str(target), "--numeric-owner", "-xpf", str(tarball)], timeout=300)
    assert result.returncode == 0, describe(result)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under `root`: type, mode, owner, size, modification time, and content hash or link target."""
    entries: dict[str, tuple] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            detail: str | None = None
            if stat.S_ISLNK(info.st_mode):
                detail = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                detail = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[key] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns, detail)
    return entries


def differences(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    out = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    out += [f"changed {p}: {before[p]} -> {after[p]}" for p in sorted(before.keys() & after.keys())
            if before[p] != after[p]]
    return out


def bootstrap(root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    script = root / PREFIX.lstrip("/") / "share/popgate/bootstrap-pop.sh"
    return run(["bash", str(script), "--root", str(root), *options], timeout=BOOTSTRAP_TIMEOUT)


def unmount_under(base: Path) -> None:
    """A run killed at its timeout cannot unmount what it mounted in the tree (its /proc): undo that first."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{base}/")), key=len, reverse=True):
        run(["umount", "--lazy", mount], timeout=30)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    require(os.geteuid() == 0, "needs root (chroot, owners, containers)")
    for tool in ("chroot", "useradd", "systemctl", "systemd-analyze"):
        require(shutil.which(tool), f"{tool} is not installed (`make deps`)")
    base = Path("/var/tmp/popgate-provisioning")
    unmount_under(base)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    yield base
    unmount_under(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(workdir: Path) -> Path:
    """A Debian 12 tree with popgate installed by `make install DESTDIR=…`, not yet provisioned."""
    root = workdir / "root"
    debootstrap_root(root)
    result = run(["make", "-s", "-C", str(REPO), "install", f"DESTDIR={root}", f"PREFIX={PREFIX}"],
                 timeout=INSTALL_TIMEOUT)
    assert result.returncode == 0, describe(result)
    return root


@pytest.fixture(scope="module")
def provisioned(installed: Path) -> dict:
    """The tree after bootstrap-pop.sh ran twice, with both runs' output and snapshots. The second run has no site
    options, as an operator re-running it would: everything it needs then comes from the kept popgate.toml."""
    first = bootstrap(installed, *SITE)
    assert first.returncode == 0, describe(first)
    after_first = snapshot(installed)
    second = bootstrap(installed)
    assert second.returncode == 0, describe(second)
    after_second = snapshot(installed)
    return {"root": installed, "first": first, "second": second, "after_first": after_first,
            "after_second": after_second}


def test_make_install_layout(installed: Path) -> None:
    prefix = installed / PREFIX.lstrip("/")
    found = {str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file()}
    missing = DOCUMENTED_LAYOUT - found
    assert not missing, f"make install did not install {sorted(missing)}"
    docs = {p for p in found if p.startswith("share/doc/popgate/")}
    for doc in ("operator-guide.md", "auditor-guide.md", "threat-model.md", "configuration.md", "architecture.md"):
        assert f"share/doc/popgate/{doc}" in docs
    for binary in ("sbin/popnetd", "sbin/popgated", "bin/popctl", "bin/popaudit"):
        path = prefix / binary
        assert path.stat().st_mode & 0o777 == 0o755
        # --static-swift-stdlib: no Swift runtime library is needed on the node.
        linked = run(["ldd", str(path)], timeout=30).stdout
        assert "libswift" not in linked and "libFoundation" not in linked and "/opt/swift" not in linked, linked
    units = prefix / "lib/systemd/system"
    assert f"ExecStart={PREFIX}/sbin/popgated " in (units / "popgated.service").read_text()


def test_installed_binaries_run_from_the_staged_tree(installed: Path) -> None:
    """Outside the build tree and without the toolchain on PATH or in the library path."""
    prefix = installed / PREFIX.lstrip("/")
    for binary in ("bin/popaudit", "bin/popctl", "sbin/popnetd", "sbin/popgated"):
        result = run([str(prefix / binary), "--help"], timeout=30, env={"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": ""})
        assert result.returncode == 0 and "USAGE" in result.stdout, describe(result)


def test_bad_site_options_leave_nothing_behind(installed: Path) -> None:
    """The rendered popgate.toml is checked by popnetd's own loader before it is put in place."""
    bad = [option if option != "198.51.100.1:51820" else "198.51.100.1" for option in SITE]  # no port
    result = bootstrap(installed, *bad)
    assert result.returncode == 1 and "wireguard.endpoint" in result.stderr, describe(result)
    assert not (installed / "etc/popgate/popgate.toml").exists()
    assert not (installed / "etc/popgate/popgate.toml.new").exists()
    unknown = bootstrap(installed, "--management-prefix", "192.0.2.0/24", *SITE)
    assert unknown.returncode == 1 and "--management-prefix needs --management" in unknown.stderr, describe(unknown)


def test_second_run_changes_nothing(provisioned: dict) -> None:
    first, second = provisioned["first"], provisioned["second"]
    assert re.search(r"^bootstrap-pop: \d+ changes$", first.stdout, re.M), first.stdout
    assert "bootstrap-pop: nothing to change" in second.stdout, second.stdout
    steps = [line for line in second.stdout.splitlines() if not line.startswith(("bootstrap-pop:", "info"))]
    assert steps and all(line.startswith("ok ") for line in steps), second.stdout
    diff = differences(provisioned["after_first"], provisioned["after_second"])
    assert not diff, "the second run changed the tree:\n" + "\n".join(diff[:50])


def test_provisioned_state(provisioned: dict) -> None:
    root: Path = provisioned["root"]
    passwd = (root / "etc/passwd").read_text()
    match = re.search(r"^popgate:x:(\d+):(\d+):[^:]*:/nonexistent:/usr/sbin/nologin$", passwd, re.M)
    assert match, "no popgate system user without a shell"
    uid, gid = int(match.group(1)), int(match.group(2))
    assert uid < 1000

    def owner_mode(path: str) -> tuple[int, int, int]:
        info = (root / path.lstrip("/")).stat()
        return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)

    assert owner_mode("/etc/popgate") == (0, gid, 0o750)
    assert owner_mode("/etc/popgate/popgate.toml") == (0, gid, 0o640)
    assert owner_mode("/etc/popgate/keys") == (0, gid, 0o750)
    for suffix in ("", "-wal", "-shm"):
        assert owner_mode(f"/var/lib/popgate/registry.sqlite{suffix}") == (0, gid, 0o640)
    assert owner_mode("/var/lib/popgate/receipts") == (uid, gid, 0o700)
    # A tree made with --root is an image: it holds no key, so no two nodes made from it share one; each node
    # makes its own at first boot (test_first_boot_makes_the_keys_on_the_node).
    assert list((root / "etc/popgate/keys").iterdir()) == []
    sysctl = (root / "etc/sysctl.d/90-popgate.conf").read_text()
    for line in ("net.ipv4.conf.all.rp_filter = 1", "net.ipv4.conf.all.accept_redirects = 0",
                 "net.ipv4.conf.all.accept_source_route = 0", "net.ipv6.conf.all.accept_redirects = 0"):
        assert line in sysctl
    policy = (root / "etc/popgate/popgate.nft").read_text()
    assert 'iifname "up0" udp dport 51820 accept' in policy and "policy drop;" in policy
    for unit, target in (("popgate-firewall.service", "sysinit.target"), ("popnetd.service", "multi-user.target"),
                         ("popgated.service", "multi-user.target"), ("popgate-node-init.service", "multi-user.target")):
        link = root / f"etc/systemd/system/{target}.wants/{unit}"
        assert link.is_symlink() and os.readlink(link) == f"{PREFIX}/lib/systemd/system/{unit}"


def test_boot_policy_is_valid_nft(provisioned: dict) -> None:
    """nft parses and checks the rendered policy (-c: nothing is applied, in a throwaway network namespace)."""
    policy = provisioned["root"] / "etc/popgate/popgate.nft"
    result = run(["unshare", "--net", "nft", "-c", "-f", str(policy)], timeout=30)
    assert result.returncode == 0, describe(result)


def test_installed_units_verify_and_are_hardened(provisioned: dict) -> None:
    root: Path = provisioned["root"]
    units = ["popgate-firewall.service", "popgate-node-init.service", "popnetd.service", "popgated.service"]
    result = run(["systemd-analyze", "verify", f"--root={root}", *units], timeout=120)
    assert result.returncode == 0 and result.stderr.strip() == "", describe(result)
    for unit, bound in EXPOSURE_BOUNDS.items():
        level = unit_exposure(Path(unit), root=root)
        assert level <= bound, f"{unit} as installed (with its drop-ins): {level} > {bound}"


# ---------------------------------------------------------------- the provisioned tree, booted

CLIENT_NS, COMPUTE_NS = NODE.client_ns, NODE.compute_ns
WORKER = NODE.compute_address
# The client's wg-quick config, named for its interface: wireguard-go's UAPI socket (/run/wireguard/<name>.sock)
# is shared by every namespace, so the name must differ from the demo's client (pgc0), which may be up meanwhile.
CLIENT_CONF = "pgprov0.conf"


class Booted:
    def __init__(self, root: Path, leader: int) -> None:
        self.root = root
        self.leader = leader

    def run(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A command inside the container: all its namespaces, as its root."""
        return run(["nsenter", f"--target={self.leader}", "--all", "--", *cmd], timeout=timeout)

    def ok(self, *cmd: str, timeout: float = 30) -> str:
        result = self.run(*cmd, timeout=timeout)
        assert result.returncode == 0, describe(result)
        return result.stdout

    def main_pid(self, unit: str) -> int:
        return int(self.ok("systemctl", "show", "--value", "-p", "MainPID", unit).strip())

    def process_status(self, pid: int) -> dict[str, str]:
        text = self.ok("cat", f"/proc/{pid}/status")
        return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def container_leader(nspawn: subprocess.Popen[str]) -> int | None:
    """The container's PID 1 (systemd), a child of systemd-nspawn."""
    try:
        children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return int(child)
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def booted(provisioned: dict, workdir: Path) -> Iterator[Booted]:
    require(shutil.which("systemd-nspawn"), "systemd-nspawn is not installed (Debian's systemd-container; `make deps`)")
    require(shutil.which("wireguard-go") and shutil.which("wg-quick"), "wireguard-go and wg-quick (`make deps`)")
    require(Path("/dev/net/tun").exists(), "/dev/net/tun is missing: wireguard-go needs TUN")
    require((BIN / "popgate-inference-sim").exists(), f"{BIN}/popgate-inference-sim is not built (`make build`)")
    root: Path = provisioned["root"]
    take_down(NODE)  # what a killed run left
    console = (workdir / "console.log").open("w")
    nspawn = subprocess.Popen(
        ["systemd-nspawn", "--quiet", f"--directory={root}", "--register=no", "--keep-unit", "--private-network",
         f"--network-veth-extra={NODE.uplink_dev}:up0", f"--network-veth-extra={NODE.backbone_dev}:bb0",
         "--bind=/dev/net/tun", "--boot"],
        stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        assert wait_for(lambda: container_leader(nspawn) is not None or nspawn.poll() is not None, timeout=60)
        leader = container_leader(nspawn)
        assert leader is not None, f"the container did not boot: {(workdir / 'console.log').read_text()[-3000:]}"
        booted = Booted(root, leader)
        # The container's systemd answers on its bus only after a moment, and nothing outside can wait for
        # that; then `--wait` returns once start-up is over (running, or degraded when a unit failed).
        assert wait_for(lambda: "Failed to connect" not in booted.run("systemctl", "is-system-running").stderr,
                        timeout=60, interval=0.2), (workdir / "console.log").read_text()[-3000:]
        state = booted.run("systemctl", "is-system-running", "--wait", timeout=BOOT_TIMEOUT).stdout.strip()
        # degraded: a unit of the minimal Debian failed in the container; the tests below name popgate's own.
        assert state in ("running", "degraded"), f"{state}\n{(workdir / 'console.log').read_text()[-3000:]}"
        connect_namespaces(booted, workdir)
        yield booted
    finally:
        run(["ip", "netns", "exec", CLIENT_NS, "wg-quick", "down", str(workdir / CLIENT_CONF)], timeout=30)
        take_down(NODE)
        if nspawn.poll() is None:
            # SIGTERM asks the container's systemd to power off; it stops the daemons in order.
            nspawn.send_signal(signal.SIGTERM)
            try:
                nspawn.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(nspawn.pid, signal.SIGKILL)
                nspawn.wait(timeout=30)
        console.close()


def connect_namespaces(booted: Booted, workdir: Path) -> None:
    """Addresses on the container's up0 and bb0, a client namespace and a worker (the simulator) at their ends."""
    for address, device in ((NODE.pop_uplink, "up0"), (NODE.pop_backbone, "bb0")):
        booted.ok("ip", "addr", "add", address, "dev", device)
        booted.ok("ip", "link", "set", device, "up")
    NODE.up()
    # Ended with the namespaces (take_down stops what runs in them).
    subprocess.Popen(["ip", "netns", "exec", COMPUTE_NS, str(BIN / "popgate-inference-sim"), "--listen",
                      f"{WORKER}:8000", "--models", "sim-small"],
                     stdin=subprocess.DEVNULL, stdout=(workdir / "sim.log").open("w"), stderr=subprocess.STDOUT)


def failed_units(booted: Booted) -> str:
    return booted.run("systemctl", "--failed", "--no-legend", "--no-pager").stdout + booted.run(
        "journalctl", "--no-pager", "-n", "60", "-u", "popnetd", "-u", "popgated", "-u", "popgate-firewall").stdout


def test_first_boot_makes_the_keys_on_the_node(booted: Booted) -> None:
    root = booted.root
    uid, gid = (int(v) for v in re.search(r"^popgate:x:(\d+):(\d+):", (root / "etc/passwd").read_text(), re.M).groups())
    keys = root / "etc/popgate/keys"
    for name, owner in (("wg-edge.key", (0, 0)), ("receipts.key", (uid, gid)), ("cache-salt.key", (uid, gid))):
        info = (keys / name).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (*owner, 0o600), name
    assert len((keys / "wg-edge.key").read_text().strip()) == 44


def test_units_come_up_in_order(booted: Booted) -> None:
    units = ["popgate-firewall.service", "popgate-node-init.service", "popnetd.service", "popgated.service"]
    states = booted.run("systemctl", "is-active", *units).stdout.split()
    assert states == ["active"] * 4, f"{dict(zip(units, states))}\n{failed_units(booted)}"
    entered = {unit: int(booted.ok("systemctl", "show", "--value", "-p", "ActiveEnterTimestampMonotonic", unit))
               for unit in units}
    # Type=notify: popnetd is active only once its policy and tunnel are up, and popgated starts after that.
    assert entered["popgate-firewall.service"] < entered["popnetd.service"] < entered["popgated.service"], entered
    assert entered["popgate-node-init.service"] < entered["popnetd.service"], entered
    started = int(booted.ok("systemctl", "show", "--value", "-p", "ExecMainStartTimestampMonotonic",
                            "popgated.service"))
    assert started >= entered["popnetd.service"], "popgated started before popnetd was ready"
    table = booted.ok("nft", "list", "table", "inet", "popgate")
    assert "policy drop;" in table and 'iifname "wg-edge"' in table


def test_daemons_run_with_the_units_privileges(booted: Booted) -> None:
    uid = re.search(r"^popgate:x:(\d+):", (booted.root / "etc/passwd").read_text(), re.M).group(1)
    gated = booted.process_status(booted.main_pid("popgated.service"))
    netd = booted.process_status(booted.main_pid("popnetd.service"))
    assert gated["Uid"].split()[0] == uid, gated["Uid"]
    assert int(gated["CapEff"], 16) == 0 and int(gated["CapBnd"], 16) == 0, gated
    assert netd["Uid"].split()[0] == "0"
    assert int(netd["CapEff"], 16) == 1 << CAP_NET_ADMIN and int(netd["CapBnd"], 16) == 1 << CAP_NET_ADMIN, netd
    for status in (gated, netd):
        assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", status
    # MemoryDenyWriteExecute and the system-call filter are in force and the Swift runtime lives with them:
    # the daemons are running. A core file is never written.
    limits = booted.ok("cat", f"/proc/{booted.main_pid('popgated.service')}/limits")
    assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.M), limits


def test_a_client_is_served_through_the_tunnel(booted: Booted, workdir: Path) -> None:
    """The booted PoP, end to end: a peer added with popctl gets a chat completion from the worker on the
    backbone, through popnetd's tunnel and firewall and popgated (as user popgate), and its receipt."""
    popctl = f"{PREFIX}/bin/popctl"
    booted.ok(popctl, "tenant", "add", "acme")
    booted.ok(popctl, "peer", "add", "--tenant", "acme", "--name", "laptop", "--output", f"/root/{CLIENT_CONF}")
    key = booted.ok(popctl, "key", "create", "--tenant", "acme", "--tier", "fast").strip()
    shutil.copy(booted.root / "root" / CLIENT_CONF, workdir / CLIENT_CONF)
    public = run(["wg", "pubkey"], timeout=10,
                 input=re.search(r"^PrivateKey *= *(\S+)", (workdir / CLIENT_CONF).read_text(), re.M).group(1)).stdout
    # popnetd puts the peer on the device when the registry changes (wg show reads wireguard-go's socket).
    assert wait_for(lambda: public.strip() in booted.run("wg", "show", "wg-edge", "peers").stdout, timeout=15), \
        failed_units(booted)
    up = run(["ip", "netns", "exec", CLIENT_NS, "wg-quick", "up", str(workdir / CLIENT_CONF)], timeout=60)
    assert up.returncode == 0, describe(up)
    curl = ["ip", "netns", "exec", CLIENT_NS, "curl", "-sS", "--max-time", "5", "-D", "-",
            "-H", f"Authorization: Bearer {key}", "http://10.77.0.1:8080/v1/models"]
    answers: list[subprocess.CompletedProcess[str]] = []

    def served() -> bool:
        answers.append(run(curl, timeout=10))
        return answers[-1].returncode == 0 and " 200 " in answers[-1].stdout.splitlines()[0]

    # The first handshake may take a retry (WireGuard retries after 5 s), and the worker counts once popgated
    # has seen it healthy (gateway.healthy_after checks, a second apart).
    assert wait_for(lambda: served() and '"sim-small"' in answers[-1].stdout, timeout=30, interval=1), \
        describe(answers[-1]) + failed_units(booted)
    body = json.dumps({"model": "sim-small", "messages": [{"role": "user", "content": "hello from the booted PoP"}]})
    chat = run(["ip", "netns", "exec", CLIENT_NS, "curl", "-sS", "--max-time", "10", "-D", "-", "-H",
                f"Authorization: Bearer {key}", "-H", "Content-Type: application/json", "--data", body,
                "http://10.77.0.1:8080/v1/chat/completions"], timeout=15)
    assert chat.returncode == 0 and " 200 " in chat.stdout.splitlines()[0], describe(chat)
    assert '"chat.completion"' in chat.stdout and '"usage"' in chat.stdout, chat.stdout
    receipt = re.search(r"^x-receipt-id: (rcpt_[0-9a-f]+)", chat.stdout, re.M | re.I)
    assert receipt, chat.stdout
    # popgated, as user popgate, wrote that receipt: the client fetches it with its proof (the API waits for the
    # checkpoint that covers it), and it verifies offline with the key the node made, as does the whole log.
    fetched = run(["ip", "netns", "exec", CLIENT_NS, "curl", "-sS", "--fail", "--max-time", "10", "-H",
                   f"Authorization: Bearer {key}", f"http://10.77.0.1:8080/v1/receipts/{receipt.group(1)}"],
                  timeout=15)
    assert fetched.returncode == 0, describe(fetched)
    (workdir / "receipt.json").write_text(fetched.stdout)
    verifier = booted.ok(popctl, "receipts", "key").strip()
    popaudit = str(booted.root / PREFIX.lstrip("/") / "bin/popaudit")
    checked = run([popaudit, "check-receipt", str(workdir / "receipt.json"), "--key", verifier], timeout=30)
    assert checked.returncode == 0 and receipt.group(1) in checked.stdout, describe(checked)
    audit = run([popaudit, "verify", str(booted.root / "var/lib/popgate/receipts"), "--key", verifier], timeout=60)
    assert audit.returncode == 0, describe(audit)


def wireguard_go_pids(booted: Booted) -> set[str]:
    out = booted.run("sh", "-c", "grep -lx wireguard-go /proc/[0-9]*/comm").stdout
    return {line.split("/")[2] for line in out.split()}


def test_restarting_popnetd_keeps_the_tunnel(booted: Booted, workdir: Path) -> None:
    """The userspace drop-in's KillMode=process: wireguard-go, and the clients' sessions, outlive popnetd."""
    before = wireguard_go_pids(booted)
    assert len(before) == 1, before
    booted.ok("systemctl", "restart", "popnetd.service", timeout=60)
    assert booted.run("systemctl", "is-active", "popnetd.service").stdout.strip() == "active", failed_units(booted)
    assert wireguard_go_pids(booted) == before
    key = booted.ok(f"{PREFIX}/bin/popctl", "key", "create", "--tenant", "acme").strip()
    curl = run(["ip", "netns", "exec", CLIENT_NS, "curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w",
                "%{http_code}", "-H", f"Authorization: Bearer {key}", "http://10.77.0.1:8080/v1/models"], timeout=10)
    assert curl.stdout == "200", describe(curl)
