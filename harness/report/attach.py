"""Allure attachment helpers that never fail the test.

Thin wrappers around ``allure.attach`` / ``allure.attach.file`` (allure-python-commons). In a
plain ``pytest`` run no Allure listener is registered and the calls are no-ops; with a listener,
attaching outside a running test (e.g. from a session fixture) raises inside allure-commons
(``KeyError`` on the missing executable item). Evidence collection must never turn a passing
or failing verdict into an error, so every helper swallows attachment errors and logs them.

``allure.attachment_type`` has no WAV member (docs/tooling.md): WAV files are attached with the MIME type
``audio/wav`` and the extension ``wav``. Captures are attached gzip-compressed as ``.pcap.gz``
(downloadable, not previewed): Wireshark, tshark and tcpdump open gzip-compressed captures
directly, and RTP with its repeated headers compresses about ten to one, which keeps a
single-file report of a whole run small enough to open.
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import allure
from allure_commons.types import AttachmentType

from harness.report.tables import findings_table_html
from harness.spec.findings import Finding

__all__ = [
    "MAX_PCAP_GZ_BYTES",
    "PCAP_GZ_EXTENSION",
    "PCAP_GZ_MIME",
    "WAV_EXTENSION",
    "WAV_MIME",
    "attach_findings",
    "attach_html",
    "attach_json",
    "attach_pcap",
    "attach_svg",
    "attach_text",
    "attach_wav",
    "add_label",
]

_log = logging.getLogger(__name__)

WAV_MIME: Final = "audio/wav"
WAV_EXTENSION: Final = "wav"
PCAP_GZ_MIME: Final = "application/gzip"
PCAP_GZ_EXTENSION: Final = "pcap.gz"
# A compressed capture larger than this stays on disk (the report names it): one 2-s scenario
# compresses to ~6 KB, so only a capture of foreign or runaway traffic gets there, and it
# would make the single-file report too big to open.
MAX_PCAP_GZ_BYTES: Final = 1_000_000


def _attach_data(
    body: str | bytes, name: str, attachment_type: AttachmentType | str, extension: str | None = None
) -> None:
    # Looked up at call time (not bound at import) so a test can monkeypatch allure.attach.
    attach: Any = allure.attach
    try:
        attach(body, name=name, attachment_type=attachment_type, extension=extension)
    except Exception:  # never let a report side effect fail the test
        _log.warning("could not attach %r to the Allure report", name, exc_info=True)


def _attach_file(
    path: str | os.PathLike[str],
    name: str | None,
    attachment_type: AttachmentType | str,
    extension: str | None = None,
) -> None:
    source = Path(path)
    label = name if name is not None else source.name
    if not source.is_file():
        # Say so in the report: a missing capture or recording is itself worth seeing.
        attach_text(f"{label} (missing)", f"file not found: {source}")
        return
    attach: Any = allure.attach
    try:
        attach.file(str(source), name=label, attachment_type=attachment_type, extension=extension)
    except Exception:
        _log.warning("could not attach file %s to the Allure report", source, exc_info=True)


def add_label(name: str, value: str) -> None:
    """A label on the running test result (machine-readable facts such as requirement verdicts)."""
    dynamic: Any = allure.dynamic
    try:
        dynamic.label(name, value)
    except Exception:
        _log.warning("could not add label %s=%r to the Allure result", name, value, exc_info=True)


def attach_text(name: str, text: str) -> None:
    _attach_data(text, name, AttachmentType.TEXT)


def attach_svg(name: str, svg: str) -> None:
    _attach_data(svg, name, AttachmentType.SVG)


def attach_html(name: str, html: str) -> None:
    _attach_data(html, name, AttachmentType.HTML)


def _json_default(obj: object) -> object:
    if isinstance(obj, Finding):
        return obj.to_json()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).decode("utf-8", errors="backslashreplace")
    if isinstance(obj, set | frozenset):
        return list(obj)
    return repr(obj)


def attach_json(name: str, obj: object) -> None:
    """JSON with dataclasses, enums, paths and bytes made serialisable (never raises)."""
    try:
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:  # e.g. circular references
        text = json.dumps({"error": f"not JSON-serialisable: {exc}", "repr": repr(obj)}, indent=2)
    _attach_data(text, name, AttachmentType.JSON)


def attach_pcap(path: str | os.PathLike[str], name: str | None = None, *,
                max_bytes: int = MAX_PCAP_GZ_BYTES) -> None:
    """The capture gzip-compressed (``<name>.gz``); a missing file is reported as missing, one
    compressing to more than `max_bytes` is named with its size instead."""
    source = Path(path)
    label = (name if name is not None else source.name) + ".gz"
    if not source.is_file():
        attach_text(f"{label} (missing)", f"file not found: {source}")
        return
    try:
        # mtime=0: the same capture gives the same bytes (no time stamp in the gzip header).
        body = gzip.compress(source.read_bytes(), compresslevel=6, mtime=0)
    except OSError:
        _log.warning("could not read capture %s for the Allure report", source, exc_info=True)
        return
    if len(body) > max_bytes:
        attach_text(f"{label} (not attached)", f"{source}: {source.stat().st_size} bytes, {len(body)} compressed: "
                    f"over the report's limit of {max_bytes} bytes per capture; open the file itself")
        return
    _attach_data(body, label, PCAP_GZ_MIME, PCAP_GZ_EXTENSION)


def attach_wav(path: str | os.PathLike[str], name: str | None = None) -> None:
    # No AttachmentType.WAV exists: a MIME string plus an explicit extension.
    _attach_file(path, name, WAV_MIME, WAV_EXTENSION)


def attach_findings(findings: Iterable[Finding], name: str = "findings") -> None:
    """The findings twice: JSON for tools, an HTML table (MUST first) for people."""
    items = list(findings)
    attach_json(f"{name}.json", [f.to_json() for f in items])
    try:
        html = findings_table_html(items)
    except Exception:
        _log.warning("could not render the findings table", exc_info=True)
        return
    attach_html(f"{name}.html", html)
