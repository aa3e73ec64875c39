"""A network namespace of its own for one third-party recorder process (docs/architecture.md §4, issue 6).

Interface (what the process manager codes against)::

    with namespace_for_recorder() as ns:          # SetupError: not root / `ip` missing
        ns.name              # "arec-<pid>-<n>", unique per arec process and namespace
        ns.host_address      # our end of the veth pair, e.g. "10.213.4.1": SIPp/RTP bind here
        ns.recorder_address  # the recorder's address inside the namespace, e.g. "10.213.4.2"
        ns.host_ifname       # host end of the veth pair: capture with `tcpdump -i <this>`
        ns.exec_prefix       # ["ip", "netns", "exec", name]: prepend to the recorder command
        subprocess.Popen([*ns.exec_prefix, "baresip", "-f", cfg])
    # on exit: processes left in the namespace are killed, veth and namespace deleted

Why (docs/tooling.md "Third-party SIP endpoints"): a third-party SIP program guesses a
non-loopback "primary" address for its Contact/SDP and may try DNS. Inside a namespace whose
only interfaces are ``lo`` and one veth end, the only address it can find is the one we gave
it, and it can reach nothing but our end of the veth: there is no default route, no NAT, and
we never turn on forwarding (arec's rule: traffic only to loopback or namespaces we create).

Each namespace gets a /30 block of 10.213.0.0/16 (host .1, recorder .2), chosen under a file
lock after listing the addresses already on the host, so parallel runs (``pytest -n 2``,
several ``arec`` processes) never share one. ``ip netns exec`` replaces itself with the
command (setns + exec), so the Popen pid is the recorder's own pid.

Names carry the owner's pid; namespaces and veths of a pid that no longer exists (an arec
that was killed) are removed by :func:`cleanup_stale` when the next namespace is made.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.exitcodes import SetupError

NETWORK = ipaddress.IPv4Network("10.213.0.0/16")
BLOCKS = NETWORK.num_addresses // 4  # /30 blocks: network, host .1, recorder .2, broadcast
NAME_PREFIX = "arec-"
PEER_IFNAME = "veth0"  # the recorder's end, inside its namespace (names there cannot clash)
IFNAMSIZ = 15  # Linux interface names: at most 15 characters

_NS_NAME = re.compile(r"arec-(\d+)-(\d+)")
_HOST_IF = re.compile(r"ar(\d+)v(\d+)")
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class NamespaceHandle:
    """One namespace made for one recorder process."""

    name: str
    host_address: str
    recorder_address: str
    host_ifname: str
    exec_prefix: list[str] = field(default_factory=list)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return [*self.exec_prefix, *argv]


@contextlib.contextmanager
def namespace_for_recorder(*, ip: str = "ip") -> Iterator[NamespaceHandle]:
    """A fresh namespace + veth pair for the block; everything removed afterwards, even on errors."""
    ip_path = require_netns_support(ip)
    cleanup_stale(ip_path)
    handle = _create(ip_path)
    try:
        yield handle
    except BaseException:
        teardown(handle, ip_path)  # the block's own error is the one to report
        raise
    problems = teardown(handle, ip_path)
    if problems:
        raise SetupError(f"network namespace {handle.name} not fully removed: {'; '.join(problems)}")


def require_netns_support(ip: str = "ip") -> str:
    """Path of `ip`; SetupError (one line) when we cannot make namespaces here."""
    path = shutil.which(ip)
    if path is None:
        raise SetupError("`ip` not found (needed for the recorder's network namespace): apt-get install iproute2")
    if os.geteuid() != 0:
        raise SetupError("a network namespace for the recorder needs root: run arec as root, "
                         "or set [process].netns = false in the recorder profile")
    return path


def block_addresses(index: int) -> tuple[str, str, str]:
    """(network/30, host address, recorder address) of /30 block ``index`` of 10.213.0.0/16."""
    if not 0 <= index < BLOCKS:
        raise ValueError(f"block {index} outside 0..{BLOCKS - 1}")
    base = NETWORK.network_address + 4 * index
    return f"{base}/30", str(base + 1), str(base + 2)


def names_for(pid: int, n: int) -> tuple[str, str]:
    """(namespace name, host interface name) for namespace ``n`` of process ``pid``."""
    host_if = f"ar{pid}v{n}"
    if len(host_if) > IFNAMSIZ:
        raise ValueError(f"interface name {host_if!r} longer than {IFNAMSIZ} characters")
    return f"{NAME_PREFIX}{pid}-{n}", host_if


def pick_block(used: set[int], seed: int) -> int:
    """A free block index, starting at a seed-dependent place so parallel runs rarely probe alike."""
    for step in range(BLOCKS):
        index = (seed + step) % BLOCKS
        if index not in used:
            return index
    raise SetupError(f"all {BLOCKS} /30 blocks of {NETWORK} are in use: stale namespaces? (ip netns list)")


def used_blocks(addr_output: str) -> set[int]:
    """Block indexes of every 10.213.x.y address in `ip -o -4 addr show` output."""
    used = set()
    for m in re.finditer(r"\binet (\d+\.\d+\.\d+\.\d+)/", addr_output):
        address = ipaddress.IPv4Address(m.group(1))
        if address in NETWORK:
            used.add((int(address) - int(NETWORK.network_address)) // 4)
    return used


def _run(ip: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([ip, *args], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise SetupError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    lock_dir = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
    with (lock_dir / "arec-netns.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _create(ip: str) -> NamespaceHandle:
    pid = os.getpid()
    n = next(_counter) % 100_000  # keeps the host interface name within IFNAMSIZ
    name, host_if = names_for(pid, n)
    with _allocation_lock():
        used = used_blocks(_run(ip, "-o", "-4", "addr", "show").stdout)
        index = pick_block(used, seed=pid * 131 + n * 7)
        net, host_addr, rec_addr = block_addresses(index)
        prefix = net.split("/")[1]
        handle = NamespaceHandle(name, host_addr, rec_addr, host_if, [ip, "netns", "exec", name])
        try:
            _run(ip, "netns", "add", name)
            # Create the peer directly inside the namespace: it never appears on the host.
            _run(ip, "link", "add", host_if, "type", "veth", "peer", "name", PEER_IFNAME, "netns", name)
            _run(ip, "addr", "add", f"{host_addr}/{prefix}", "dev", host_if)
            _run(ip, "link", "set", host_if, "up")
            _run(ip, "-n", name, "link", "set", "lo", "up")
            _run(ip, "-n", name, "addr", "add", f"{rec_addr}/{prefix}", "dev", PEER_IFNAME)
            _run(ip, "-n", name, "link", "set", PEER_IFNAME, "up")
        except BaseException:
            teardown(handle, ip)
            raise
    return handle


def namespace_pids(name: str, ip: str = "ip") -> list[int]:
    proc = _run(ip, "netns", "pids", name, check=False)
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def _kill_all(name: str, ip: str, grace_s: float) -> None:
    """SIGTERM whatever still runs in the namespace, SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = namespace_pids(name, ip)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and namespace_pids(name, ip):
            time.sleep(0.05)


def teardown(handle: NamespaceHandle, ip: str = "ip", grace_s: float = 2.0) -> list[str]:
    """Kill leftovers, delete the veth pair and the namespace; returns what could not be done."""
    problems = []
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        _kill_all(handle.name, ip, grace_s)
    # Deleting one end of a veth pair deletes both.
    link = _run(ip, "link", "del", handle.host_ifname, check=False)
    if link.returncode != 0 and "Cannot find device" not in link.stderr:
        problems.append(link.stderr.strip())
    ns = _run(ip, "netns", "del", handle.name, check=False)
    if ns.returncode != 0 and "No such file" not in ns.stderr:
        problems.append(ns.stderr.strip())
    return problems


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(ip: str = "ip") -> list[str]:
    """Remove ``arec-<pid>-<n>`` namespaces (and ``ar<pid>v<n>`` veths) whose owner pid is gone."""
    removed = []
    listing = _run(ip, "netns", "list", check=False).stdout
    for line in listing.splitlines():
        m = _NS_NAME.fullmatch(line.split(" ", 1)[0])
        if m and not _pid_alive(int(m.group(1))):
            stale = NamespaceHandle(m.group(0), "", "", f"ar{m.group(1)}v{m.group(2)}")
            teardown(stale, ip, grace_s=0.5)
            removed.append(stale.name)
    links = _run(ip, "-o", "link", "show", "type", "veth", check=False).stdout
    for m in re.finditer(r"^\d+: (ar(\d+)v\d+)[@:]", links, re.MULTILINE):
        if _HOST_IF.fullmatch(m.group(1)) and not _pid_alive(int(m.group(2))):
            _run(ip, "link", "del", m.group(1), check=False)
            removed.append(m.group(1))
    return removed

