"""SIPp's media port block is free on the host (moved from tests/unit/sipp/test_runner.py: it binds
a real port)."""

from __future__ import annotations

import pytest

# Binds loopback ports: the integration tier.
pytestmark = pytest.mark.integration


def test_sipp_media_port_is_a_free_block_below_the_ephemeral_range() -> None:
    import random as _random
    import socket as _socket

    from harness.sipp.process import _SIPP_MEDIA_RANGE, sipp_media_port

    port = sipp_media_port(rng=_random.Random(1))
    assert port % 2 == 0 and _SIPP_MEDIA_RANGE[0] <= port < _SIPP_MEDIA_RANGE[1]
    # Occupy P+2 (SIPp's video socket): the same draw must now be refused and another block chosen.
    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", port + 2))
        other = sipp_media_port(rng=_random.Random(1))
    assert other != port and not (other <= port + 2 < other + 4)
