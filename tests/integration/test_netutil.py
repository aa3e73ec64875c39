"""harness.netutil: the one free-port helper."""

from __future__ import annotations

import socket

import pytest

from harness.netutil import free_port, port_free

pytestmark = pytest.mark.integration  # binds real sockets


def test_a_free_port_for_both_transports_can_be_bound_twice() -> None:
    port = free_port()
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))


def test_port_free_sees_a_bound_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert not port_free("127.0.0.1", port, socket.SOCK_DGRAM)
    assert port_free("127.0.0.1", port, socket.SOCK_DGRAM)


def test_one_transport_only() -> None:
    port = free_port("127.0.0.1", kind=socket.SOCK_STREAM)
    assert port_free("127.0.0.1", port, socket.SOCK_STREAM)
