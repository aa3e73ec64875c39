"""Real network namespaces per recorder (root, `ip`): reachable through the veth, torn down after
use or after an error, stale ones removed (moved from tests/unit/recorders/test_netns.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.recorders.netns import cleanup_stale, names_for, namespace_for_recorder, used_blocks

# Root, `ip`, processes and sockets: the integration tier.
pytestmark = pytest.mark.integration


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True, timeout=10).stdout


def _namespaces() -> set[str]:
    return {line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()}


def _links() -> str:
    return _ip("-o", "link", "show")


ECHO = ("import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',0));"
        "print(s.getsockname()[1],flush=True);d,a=s.recvfrom(100);s.sendto(d[::-1],a)")


@pytest.mark.integration
def test_namespace_reachable_through_veth_then_gone() -> None:
    with namespace_for_recorder() as ns:
        assert ns.name in _namespaces()
        assert ns.name.startswith(f"arec-{os.getpid()}-")
        assert f"inet {ns.host_address}/30" in _ip("-o", "-4", "addr", "show", "dev", ns.host_ifname)
        inside = subprocess.run(ns.command(["ip", "-o", "addr", "show"]), capture_output=True, text=True,
                                check=True).stdout
        assert f"inet {ns.recorder_address}/30" in inside and "lo    inet 127.0.0.1/8" in inside
        # No default route inside: the recorder can reach our end of the veth and nothing else.
        assert ns.command(["ip", "route"])[:4] == ns.exec_prefix
        routes = subprocess.run(ns.command(["ip", "route"]), capture_output=True, text=True, check=True).stdout
        assert "default" not in routes and routes.strip()
        echo = subprocess.Popen(ns.command([sys.executable, "-c", ECHO]), stdout=subprocess.PIPE, text=True)
        assert echo.stdout is not None
        port = int(echo.stdout.readline())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ns.host_address, 0))
            s.settimeout(5)
            s.sendto(b"ping", (ns.recorder_address, port))
            data, peer = s.recvfrom(100)
        assert (data, peer) == (b"gnip", (ns.recorder_address, port))
        assert echo.wait(5) == 0
    assert ns.name not in _namespaces()
    assert ns.host_ifname not in _links()
    # Not reachable any more: no address of the block is left on the host (we do not send a
    # packet to check: with the veth gone it would follow the host's default route).
    assert ns.host_address not in _ip("-o", "-4", "addr", "show")
    assert ns.host_ifname not in _ip("route", "show")


@pytest.mark.integration
def test_error_in_block_still_tears_down_and_kills_leftovers() -> None:
    leftover: subprocess.Popen[bytes] | None = None
    with pytest.raises(RuntimeError, match="boom"), namespace_for_recorder() as ns:
        leftover = subprocess.Popen(ns.command(["sleep", "60"]))
        raise RuntimeError("boom")
    assert leftover is not None
    assert leftover.wait(5) < 0  # killed by a signal from the teardown, not left running
    assert ns.name not in _namespaces() and ns.host_ifname not in _links()


@pytest.mark.integration
def test_two_namespaces_at_once_get_distinct_names_and_blocks() -> None:
    with namespace_for_recorder() as a, namespace_for_recorder() as b:
        assert a.name != b.name and a.host_ifname != b.host_ifname
        assert {a.host_address, a.recorder_address}.isdisjoint({b.host_address, b.recorder_address})
        assert used_blocks(_ip("-o", "-4", "addr", "show")) >= {
            (int(a.host_address.split(".")[2]) * 256 + int(a.host_address.split(".")[3])) // 4,
            (int(b.host_address.split(".")[2]) * 256 + int(b.host_address.split(".")[3])) // 4,
        }
    assert not {a.name, b.name} & _namespaces()


@pytest.mark.integration
def test_stale_namespace_of_dead_owner_is_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    for _ in range(50):  # a pid nobody holds right now
        try:
            os.kill(dead.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    name, host_if = names_for(dead.pid, 1)
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", "veth0", "netns", name)
        live_name, _ = names_for(os.getpid(), 99998)  # ours: must survive
        _ip("netns", "add", live_name)
        try:
            removed = cleanup_stale()
            assert name in removed and live_name not in removed
            assert name not in _namespaces() and host_if not in _links()
            assert live_name in _namespaces()
        finally:
            subprocess.run(["ip", "netns", "del", live_name], check=False)
    finally:
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
