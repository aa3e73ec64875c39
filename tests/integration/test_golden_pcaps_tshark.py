"""The golden captures open in Wireshark's reader without an error: they are the examples a user
opens first (tshark reads the whole file and dissects SIP, SDP and RTP)."""

from __future__ import annotations

import subprocess

import pytest

from tests.golden import GOLDEN, PCAPS, Golden

pytestmark = pytest.mark.integration
ROOT_WARNING = 'Running as user "root"'  # tshark's notice when run as root, not about the file


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.name for g in GOLDEN])
def test_tshark_reads_the_golden_capture_and_sees_its_sip_and_rtp(golden: Golden) -> None:
    pcap = PCAPS / f"{golden.name}.pcap"
    proc = subprocess.run(["tshark", "-n", "-r", str(pcap), "--enable-heuristic", "rtp_udp", "-T", "fields",
                           "-e", "frame.protocols"], capture_output=True, text=True, timeout=60, check=False)
    complaints = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(ROOT_WARNING)]
    assert proc.returncode == 0 and not complaints, proc.stderr
    protocols = proc.stdout.splitlines()
    assert any("sip" in p for p in protocols)
    assert any("sdp" in p for p in protocols)
    # Wireshark follows the SDP to the RTP ports (and the RTP heuristic covers the rest).
    assert any(p.endswith(":rtp") for p in protocols) == (golden.streams > 0)
