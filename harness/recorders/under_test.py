"""The recorder under test, as the harness sees it: where to send SIP, which transport, where
the recordings appear, what the capture must include, and what the recorder can do. How it is
started (the reference recorder per scenario, a command, a profile, or "already running") is
`harness.recorders.launcher`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.exitcodes import SetupError

if TYPE_CHECKING:
    from harness.recorders.locate import RecordingLocator

__all__ = ["ALL_PAUSE_PROFILES", "ALL_SESSION_MODES", "KNOWN_SESSION_MODES", "REFERENCE_CAPABILITIES", "SIPREC_MODE", "SIP_ONLY", "Capabilities",
           "RecorderUnderTest", "parse_sip_target"]

ALL_SESSION_MODES = frozenset({"two-session", "single-session"})
# SIPREC (RFC 7866): one recording session per call from an SRC. Not a default: a recorder
# takes part only when its profile lists it (an ARE-only recorder would fail every SIPREC step).
SIPREC_MODE = "siprec"
KNOWN_SESSION_MODES = ALL_SESSION_MODES | {SIPREC_MODE}
ALL_PAUSE_PROFILES = frozenset({"rtp-stops", "silence", "reinvite"})


BASE_CODECS = frozenset({"PCMU", "PCMA"})
ALL_CODECS = frozenset({"PCMU", "PCMA", "G722"})  # what the Media Server emulation can send


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the recorder under test can take part in: a scenario that needs
    more is reported *not applicable*, never passed."""

    # Connects to the scenario's T-Server (T-Lib emulation), registers DNs, can request
    # recording / pause / resume itself (seed steps 2, 8, 9 by the recorder).
    tlib_client: bool = False
    # The harness can give it recording rules for a scenario (reference recorder: the file
    # passed as --tlib-config, re-read when it changes). Needed by feature 02.
    rules_configurable: bool = False
    # Its recording metadata holds the call's T-Lib attached data (feature 08).
    attached_data_in_metadata: bool = False
    session_modes: frozenset[str] = ALL_SESSION_MODES
    pause_profiles: frozenset[str] = ALL_PAUSE_PROFILES
    # How many recording sessions (SIP dialogs) it accepts at once, when the user knows it;
    # None: unknown, so "at capacity" cannot be reached on purpose (SIP-CAPACITY-503 n/a).
    capacity: int | None = None
    # Audio codecs it records: G.711 is what every recorder must take (GVP-MSRec); a scenario
    # negotiated with another codec (G.722) is not applicable to a recorder that does not list it.
    codecs: frozenset[str] = BASE_CODECS


REFERENCE_CAPABILITIES = Capabilities(tlib_client=True, rules_configurable=True, attached_data_in_metadata=True,
                                      session_modes=KNOWN_SESSION_MODES, capacity=6,
                                      codecs=frozenset({"PCMU", "PCMA", "G722"}))
SIP_ONLY = Capabilities()


@dataclass(frozen=True, slots=True)
class RecorderUnderTest:
    name: str
    host: str
    port: int
    transport: str
    recordings: Path | None  # None: the recorder's files are not visible to the harness
    rtp_ports: tuple[int, int] | None  # range its RTP ports come from, for the capture filter
    managed: bool = False
    capabilities: Capabilities = SIP_ONLY
    # How to find a call's files when they are not in the reference layout
    # <recordings>/<calluuid>/<record_id>/ (recorder profiles, harness.recorders.locate).
    locator: RecordingLocator | None = None
    # Where the harness's own SIPp legs and RTP sockets bind, and the interface the capture
    # listens on: loopback, or the host end of the veth pair of a recorder in a network
    # namespace (harness.recorders.netns), which cannot reach 127.0.0.1 on the host.
    local_address: str = "127.0.0.1"
    capture_interface: str = "lo"
    # UDP ports of the scenario's own traffic besides the recorder's (the call's original RTP
    # legs, harness.emulators.call_legs): captured whatever host they are on.
    extra_ports: tuple[int, ...] = ()

    @property
    def capture_filter(self) -> str:
        """BPF for this scenario's traffic only, so parallel scenarios do not see each other."""
        sip = f"port {self.port}"
        if self.rtp_ports is None:
            recorder = f"host {self.host} and ({sip} or udp)"
        else:
            low, high = self.rtp_ports
            recorder = f"host {self.host} and ({sip} or (udp and portrange {low}-{high}))"
        if not self.extra_ports:
            return recorder
        # pcap-filter(7): `and` and `or` have the same precedence (left to right): parenthesise.
        extra = " or ".join(f"port {p}" for p in self.extra_ports)
        return f"({recorder}) or (udp and ({extra}))"


def parse_sip_target(text: str) -> tuple[str, int, str]:
    """'sip:HOST:PORT[;transport=tcp]' -> (host, port, transport); SetupError when malformed."""
    value = text.strip()
    transport = "udp"
    if ";transport=" in value.lower():
        value, _, transport = value.partition(";transport=")
        transport = transport.lower()
    if value.lower().startswith("sip:"):
        value = value[4:]
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or transport not in ("udp", "tcp"):
        raise SetupError(f"--recorder {text!r}: expected sip:HOST:PORT[;transport=udp|tcp]")
    return host.strip("[]"), int(port), transport
