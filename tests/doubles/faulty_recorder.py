"""Deliberately broken recorders: the reference recorder with one injected fault.

They prove the conformance scenarios can fail, and fail with the right requirement id:

    python -m tests.doubles.faulty_recorder --fault sendrecv --listen 127.0.0.1:5060 ...

  sendrecv        answers the recording INVITE's sendonly offer with a=sendrecv (RFC 3264 §6.1)
  swap-channels   records each stream's audio under the other stream's DN
  drop-agent      never records the audio of the second stream of a call
"""

from __future__ import annotations

import argparse
import sys

from harness.cli import _build_parser
from harness.protocol.sip import uas
from reference_recorder.core import RecorderCore
from reference_recorder.server import run_from_cli


class SendrecvAnswer(RecorderCore):
    def data_to_send(self) -> list[uas.Outgoing]:
        out = []
        for item in super().data_to_send():
            if b"a=recvonly" in item.data:
                # Same length, so Content-Length stays right.
                item = uas.Outgoing(item.data.replace(b"a=recvonly", b"a=sendrecv"), item.destination,
                                    item.transport)
            out.append(item)
        return out


class SwapChannels(RecorderCore):
    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None:
            session, stream = entry
            for other_port, (other_session, _other) in self._streams_by_port.items():
                if other_port != port and other_session.recording is session.recording:
                    port = other_port
                    break
        super().receive_rtp(port, data, source, now)


class DropAgent(RecorderCore):
    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None:
            session, stream = entry
            first = min(p for p, (s, _) in self._streams_by_port.items() if s.recording is session.recording)
            if port != first:
                return
        super().receive_rtp(port, data, source, now)


FAULTS: dict[str, type[RecorderCore]] = {
    "sendrecv": SendrecvAnswer, "swap-channels": SwapChannels, "drop-agent": DropAgent,
}


def main(argv: list[str]) -> int:
    fault_parser = argparse.ArgumentParser(add_help=False)
    fault_parser.add_argument("--fault", choices=sorted(FAULTS), required=True)
    known, rest = fault_parser.parse_known_args(argv)
    args = _build_parser().parse_args(["recorder", *rest])
    return run_from_cli(args, core_factory=FAULTS[known.fault])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
