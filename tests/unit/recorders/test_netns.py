"""Network namespace per recorder: the address plan and set-up errors (pure). The real namespaces
(root, `ip`) are tested in tests/integration/test_netns_real.py."""

from __future__ import annotations

import os

import pytest

from harness.exitcodes import SetupError
from harness.recorders.netns import (
    BLOCKS,
    block_addresses,
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
