"""The reference recorder depends on the protocol core only, and parses its own flags.

Issue 15 §5: `reference_recorder` imports only `harness.protocol` (no cycle with `harness`);
`arec recorder` hands its arguments to `reference_recorder.cli` unchanged.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import reference_recorder
from reference_recorder.cli import build_parser
from reference_recorder.server import EscapeUntrusted

PACKAGE = Path(reference_recorder.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_reference_recorder_imports_only_the_protocol_core_of_harness() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        for name in _imports(path)
        if (name == "harness" or name.startswith("harness.")) and not name.startswith("harness.protocol")
    }
    assert offenders == set()


def test_recorder_flags_are_the_documented_ones() -> None:
    args = build_parser().parse_args([
        "--listen", "127.0.0.1:5070", "--transport", "tcp", "--recordings", "r", "--capacity", "3",
        "--tlib", "127.0.0.1:3000", "--tlib-config", "t.toml", "--rtp-ports", "30000-30100",
    ])
    assert (args.listen, args.transport, args.recordings, args.capacity, args.tlib, args.tlib_config,
            args.rtp_ports) == ("127.0.0.1:5070", "tcp", "r", 3, "127.0.0.1:3000", "t.toml", "30000-30100")
    defaults = build_parser().parse_args([])
    assert (defaults.listen, defaults.transport, defaults.capacity) == ("127.0.0.1:5060", "udp", 100)


def test_arec_recorder_delegates_to_the_recorders_parser(monkeypatch: object) -> None:
    import harness.cli
    import reference_recorder.cli

    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return 7

    monkeypatch.setattr(reference_recorder.cli, "main", fake_main)  # type: ignore[attr-defined]
    assert harness.cli.main(["recorder", "--listen", "127.0.0.1:5999", "--capacity", "2"]) == 7
    assert seen == [["--listen", "127.0.0.1:5999", "--capacity", "2"]]


def test_log_filter_escapes_a_message_with_line_breaks() -> None:
    record = logging.LogRecord("arec.recorder", logging.INFO, __file__, 1, "calluuid=%s", ("X\nFORGED",), None)
    assert EscapeUntrusted().filter(record)
    assert record.getMessage() == "calluuid=X\\nFORGED"
