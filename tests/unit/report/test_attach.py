"""Allure attachment helpers: right MIME / extension under a listener, never an exception."""

from __future__ import annotations

import gzip
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import allure
import allure_commons
import pytest
from allure_commons.types import AttachmentType

from harness.report import attach as attach_mod
from harness.report.attach import (
    attach_findings,
    attach_html,
    attach_json,
    attach_pcap,
    attach_svg,
    attach_text,
    attach_wav,
)
from harness.spec.findings import Evidence, Finding, Severity


@dataclass
class _Listener:
    """A fake Allure listener: the same hooks allure-pytest-bdd implements."""

    data: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    @allure_commons.hookimpl
    def attach_data(self, body: Any, name: Any, attachment_type: Any, extension: Any) -> None:
        self.data.append({"body": body, "name": name, "type": attachment_type, "ext": extension})

    @allure_commons.hookimpl
    def attach_file(self, source: Any, name: Any, attachment_type: Any, extension: Any) -> None:
        self.files.append({"source": source, "name": name, "type": attachment_type, "ext": extension})


class _Exploding:
    """Like the real listener attaching outside a running test (KeyError in allure-commons)."""

    @allure_commons.hookimpl
    def attach_data(self, body: Any, name: Any, attachment_type: Any, extension: Any) -> None:
        raise KeyError("no executable item")

    @allure_commons.hookimpl
    def attach_file(self, source: Any, name: Any, attachment_type: Any, extension: Any) -> None:
        raise OSError("disk full")


@pytest.fixture
def listener() -> Iterator[_Listener]:
    plugin = _Listener()
    allure_commons.plugin_manager.register(plugin)
    try:
        yield plugin
    finally:
        allure_commons.plugin_manager.unregister(plugin)


@pytest.fixture
def exploding() -> Iterator[None]:
    plugin = _Exploding()
    allure_commons.plugin_manager.register(plugin)
    try:
        yield
    finally:
        allure_commons.plugin_manager.unregister(plugin)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    pcap = tmp_path / "call.pcap"
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 20)
    wav = tmp_path / "stream-a.wav"
    wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    return pcap, wav


FINDINGS = [
    Finding("RTP-SEQ-CONTINUITY", Severity.SHOULD, "gap", Evidence(packet_index=3)),
    Finding("SIP-RESP-CODES", Severity.MUST, "500 <boom>", observed="500", expected="200"),
]


def _call_everything(pcap: Path, wav: Path, missing: Path) -> None:
    attach_svg("ladder", "<svg/>")
    attach_html("page", "<p>x</p>")
    attach_json("obj", {"a": 1})
    attach_text("note", "hello")
    attach_pcap(pcap)
    attach_wav(wav)
    attach_pcap(missing)
    attach_findings(FINDINGS)


def test_no_listener_no_exception(files: tuple[Path, Path], tmp_path: Path) -> None:
    _call_everything(*files, tmp_path / "nope.pcap")


def test_listener_errors_are_swallowed_and_logged(
    exploding: None, files: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=attach_mod.__name__):
        _call_everything(*files, tmp_path / "nope.pcap")
    assert any("could not attach file" in r.getMessage() for r in caplog.records)  # the WAV
    assert any("could not attach 'call.pcap.gz'" in r.getMessage() for r in caplog.records)
    assert any("could not attach 'ladder'" in r.getMessage() for r in caplog.records)


def test_data_attachment_types(listener: _Listener) -> None:
    attach_svg("ladder", "<svg/>")
    attach_html("page", "<p/>")
    attach_text("note", "hi")
    attach_json("obj", {"k": [1, 2]})
    assert [(d["name"], d["type"]) for d in listener.data] == [
        ("ladder", AttachmentType.SVG),
        ("page", AttachmentType.HTML),
        ("note", AttachmentType.TEXT),
        ("obj", AttachmentType.JSON),
    ]
    assert listener.data[0]["body"] == "<svg/>"
    assert json.loads(listener.data[3]["body"]) == {"k": [1, 2]}


def test_pcap_and_wav_files(listener: _Listener, files: tuple[Path, Path]) -> None:
    pcap, wav = files
    attach_pcap(pcap)
    attach_wav(wav, name="leg A")
    [wav_call] = listener.files
    # allure.attachment_type has no WAV member: MIME string + explicit extension.
    assert wav_call == {"source": str(wav), "name": "leg A", "type": "audio/wav", "ext": "wav"}
    # The capture goes in gzip-compressed (Wireshark opens .pcap.gz), the same bytes inside.
    [pcap_call] = listener.data
    assert (pcap_call["name"], pcap_call["type"], pcap_call["ext"]) == ("call.pcap.gz", "application/gzip", "pcap.gz")
    assert gzip.decompress(pcap_call["body"]) == pcap.read_bytes()


def test_a_capture_compresses_deterministically(listener: _Listener, tmp_path: Path) -> None:
    pcap = tmp_path / "rtp.pcap"
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1" + (b"\x80\x00\x01\x02" + b"\xff" * 160) * 200)
    attach_pcap(pcap, "capture.pcap")
    attach_pcap(pcap, "capture.pcap")
    first, second = listener.data
    assert first["body"] == second["body"]  # no time stamp in the gzip header
    assert len(first["body"]) < pcap.stat().st_size / 10


def test_a_capture_too_big_for_the_report_is_named_not_attached(listener: _Listener, tmp_path: Path) -> None:
    pcap = tmp_path / "flood.pcap"
    pcap.write_bytes(random.Random(0).randbytes(16384))  # does not compress
    attach_pcap(pcap, "capture.pcap", max_bytes=1000)
    [note] = listener.data
    assert note["type"] is AttachmentType.TEXT and note["name"] == "capture.pcap.gz (not attached)"
    assert str(pcap) in note["body"] and "16384 bytes" in note["body"]


def test_missing_file_becomes_a_text_attachment(listener: _Listener, tmp_path: Path) -> None:
    missing = tmp_path / "gone.wav"
    attach_wav(missing)
    attach_pcap(tmp_path)  # a directory is not a file either
    assert listener.files == []
    first, second = listener.data
    assert first["type"] is AttachmentType.TEXT and first["name"] == "gone.wav (missing)"
    assert str(missing) in first["body"]
    assert second["name"].endswith("(missing)")


def test_attach_findings_json_and_html(listener: _Listener) -> None:
    attach_findings(FINDINGS, name="sip findings")
    js, html = listener.data
    assert (js["name"], js["type"]) == ("sip findings.json", AttachmentType.JSON)
    assert (html["name"], html["type"]) == ("sip findings.html", AttachmentType.HTML)
    decoded = json.loads(js["body"])
    assert [d["requirement_id"] for d in decoded] == ["RTP-SEQ-CONTINUITY", "SIP-RESP-CODES"]
    assert decoded[1]["severity"] == "MUST" and decoded[0]["evidence"]["packet_index"] == 3
    assert "500 &lt;boom&gt;" in html["body"] and 'class="must"' in html["body"]


def test_attach_json_serialises_project_types(listener: _Listener, tmp_path: Path) -> None:
    @dataclass(frozen=True, slots=True)
    class Stats:
        packets: int

    obj = {
        "finding": FINDINGS[1],
        "sev": Severity.INFO,
        "path": tmp_path / "x.wav",
        "raw": b"\xffab",
        "set": {1},
        "stats": Stats(3),
        "other": object(),
    }
    attach_json("mixed", obj)
    (call,) = listener.data
    decoded = json.loads(call["body"])
    assert decoded["finding"]["severity"] == "MUST"
    assert decoded["sev"] == "INFO"
    assert decoded["path"].endswith("x.wav")
    assert decoded["raw"] == "\\xffab"
    assert decoded["set"] == [1] and decoded["stats"] == {"packets": 3}
    assert decoded["other"].startswith("<object object")


def test_attach_json_circular_does_not_raise(listener: _Listener) -> None:
    loop: list[object] = []
    loop.append(loop)
    attach_json("loop", loop)
    (call,) = listener.data
    assert "not JSON-serialisable" in json.loads(call["body"])["error"]


def test_monkeypatched_allure_attach_raising(
    monkeypatch: pytest.MonkeyPatch, files: tuple[Path, Path]
) -> None:
    calls: list[tuple[Any, ...]] = []

    class Boom:
        def __call__(self, *args: Any, **kwargs: Any) -> None:
            calls.append(("data", kwargs.get("attachment_type")))
            raise RuntimeError("boom")

        def file(self, *args: Any, **kwargs: Any) -> None:
            calls.append(("file", kwargs.get("attachment_type"), kwargs.get("extension")))
            raise RuntimeError("boom")

    monkeypatch.setattr(allure, "attach", Boom())
    attach_text("t", "x")
    attach_wav(files[1])
    assert calls == [("data", AttachmentType.TEXT), ("file", "audio/wav", "wav")]
