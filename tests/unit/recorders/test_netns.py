"""Network namespace per recorder: address plan (pure) and real namespaces (root, `ip`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.exitcodes import SetupError
from harness.recorders.netns import (
    BLOCKS,
    block_addresses,
    cleanup_stale,
    names_for,
    namespace_for_recorder,
    pick_block,
    used_blocks,
)

ADDR_SHOW = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever
9: ar77v1    inet 10.213.0.5/30 scope global ar77v1\\       valid_lft forever
10: ar77v2    inet 10.213.255.253/30 scope global ar77v2\\       valid_lft forever
"""


def test_blocks_are_30s_of_10_213() -> None:
    assert block_addresses(0) == ("10.213.0.0/30", "10.213.0.1", "10.213.0.2")
    assert block_addresses(65) == ("10.213.1.4/30", "10.213.1.5", "10.213.1.6")
    assert block_addresses(BLOCKS - 1) == ("10.213.255.252/30", "10.213.255.253", "10.213.255.254")
    with pytest.raises(ValueError):
        block_addresses(BLOCKS)


def test_used_blocks_reads_only_our_network() -> None:
    assert used_blocks(ADDR_SHOW) == {1, BLOCKS - 1}


def test_pick_block_skips_used_and_wraps() -> None:
    assert pick_block({5, 6}, seed=5) == 7
    assert pick_block({BLOCKS - 1}, seed=BLOCKS - 1) == 0
    with pytest.raises(SetupError, match="all 16384 /30 blocks"):
        pick_block(set(range(BLOCKS)), seed=0)


def test_names_fit_linux_interface_names() -> None:
    assert names_for(4194304, 99999) == ("arec-4194304-99999", "ar4194304v99999")
    with pytest.raises(ValueError, match="longer than 15"):
        names_for(4194304, 999999)


def test_missing_ip_is_one_line_setup_error() -> None:
    missing_ip = namespace_for_recorder(ip="/nonexistent/ip")
    with pytest.raises(SetupError, match=r"`ip` not found .*apt-get install iproute2") as err, missing_ip:
        pass
    assert "\n" not in str(err.value)


def test_not_root_is_one_line_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SetupError, match="needs root") as err, namespace_for_recorder():
        pass
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------- real namespaces


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
