"""Recorder profile (TOML): how arec reaches, starts and reads a third-party recorder.

The format is documented in docs/recorder-profiles.md (contract: docs/architecture.md §4). Every problem
is a `SetupError` with one line naming the file and the key, so a typo in a key or a
placeholder is caught before any call is placed (unknown keys are errors, not ignored).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.exitcodes import SetupError
from harness.media.impairments import parse_impairments
from harness.recorders.locate import (
    CALL_PLACEHOLDERS,
    FORMATS,
    LAYOUTS,
    LOCATES,
    SIDES,
    RecordingsSpec,
    placeholders,
)
from harness.recorders.under_test import (
    ALL_CODECS,
    ALL_PAUSE_PROFILES,
    ALL_SESSION_MODES,
    BASE_CODECS,
    KNOWN_SESSION_MODES,
    Capabilities,
)

SCOPES = ("scenario", "run")
# Placeholders of [process].command and [recordings].directory, filled when arec starts it.
PROCESS_PLACEHOLDERS = frozenset({"port", "recordings", "work_dir", "profile_dir", "tlib", "tlib_config",
                                  "ns_address"})
DIRECTORY_PLACEHOLDERS = PROCESS_PLACEHOLDERS - {"recordings", "tlib", "tlib_config"}
DEFAULT_READY_TIMEOUT_S = 10.0

_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"name", "sip", "process", "recordings", "capabilities", "media"}),
    "media": frozenset({"impairments"}),
    "sip": frozenset({"address"}),
    "process": frozenset({"command", "ready_line", "ready_timeout_s", "netns", "scope"}),
    "recordings": frozenset({"directory", "locate", "pattern", "glob", "metadata", "layout", "channels",
                             "format", "settle_s", "participant_map"}),
    "capabilities": frozenset({"tlib_client", "rules_configurable", "attached_data_in_metadata",
                               "session_modes", "pause_profiles", "capacity", "codecs"}),
}
_ADDRESS = re.compile(r"^sip:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})"
                      r"(?:;transport=(?P<transport>[A-Za-z]+))?$")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    command: str
    ready_line: str | None = None  # regex searched in each stdout/stderr line
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    netns: bool = False
    scope: str = "scenario"


@dataclass(frozen=True, slots=True)
class RecorderProfile:
    path: Path
    name: str
    host: str
    port: int  # 0: arec picks a free port for each start and passes it as {port}
    transport: str
    process: ProcessSpec | None
    recordings: RecordingsSpec | None  # None: the recordings are not visible to arec
    capabilities: Capabilities
    # [media] impairments: what the Media Server emulation does to every replicated stream
    # (harness/media/impairments.py knobs, e.g. "loss=0.02,jitter=20,seed=7"); None: clean RTP.
    impairments: str | None = None

    @property
    def profile_dir(self) -> Path:
        return self.path.parent

    def recordings_dir(self, values: Mapping[str, str]) -> Path | None:
        """The recordings directory with the placeholders filled; relative = to the profile."""
        if self.recordings is None:
            return None
        expanded = self.recordings.directory.format_map({"profile_dir": str(self.profile_dir), **values})
        path = Path(expanded).expanduser()
        return path if path.is_absolute() else (self.profile_dir / path)

    def command_text(self, values: Mapping[str, str]) -> str:
        """The command line with its placeholders filled, each value shell-quoted (a path with
        spaces stays one argument when the line is split)."""
        assert self.process is not None
        filled = {"profile_dir": str(self.profile_dir), **values}
        return self.process.command.format_map({k: shlex.quote(v) for k, v in filled.items()})


class _Reader:
    """Typed access to one table of the document; errors name the file, table and key."""

    def __init__(self, path: Path, table: str, data: Mapping[str, Any]) -> None:
        self.path, self.table, self.data = path, table, data
        unknown = sorted(set(data) - _KEYS[table])
        if unknown:
            allowed = ", ".join(sorted(_KEYS[table]))
            raise self.error(unknown[0], f"unknown key (allowed here: {allowed})")

    def where(self, key: str) -> str:
        return f"[{self.table}] {key}" if self.table else key

    def error(self, key: str, problem: str) -> SetupError:
        return SetupError(f"recorder profile {self.path}: {self.where(key)}: {problem}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(key, default)
        if value is None:
            if required:
                raise self.error(key, "missing (required)")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")
        return value

    def number(self, key: str, default: float, *, positive: bool = False) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(key, f"must be a number of seconds, not {value!r}")
        if value < 0 or (positive and value == 0):
            raise self.error(key, f"must be {'greater than 0' if positive else 'at least 0'}, not {value!r}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def strings(self, key: str, default: tuple[str, ...], allowed: frozenset[str] | tuple[str, ...] | None = None
                ) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"must be a list of strings, not {value!r}")
        if allowed is not None:
            bad = [v for v in value if v not in allowed]
            if bad:
                raise self.error(key, f"{bad[0]!r} is not one of {', '.join(repr(a) for a in sorted(allowed))}")
        return tuple(value)

    def template(self, key: str, allowed: frozenset[str], *, required: bool = False,
                 default: str | None = None) -> str | None:
        value = self.text(key, default, required=required)
        if value is None:
            return None
        try:
            names = placeholders(value)
        except ValueError as error:
            raise self.error(key, f"malformed placeholder in {value!r} ({error}; write {{{{ for a literal brace)") \
                from None
        unknown = sorted(n for n in names if n not in allowed)
        if unknown:
            raise self.error(key, f"unknown placeholder {{{unknown[0]}}} in {value!r} (allowed: "
                             f"{' '.join('{' + a + '}' for a in sorted(allowed))})")
        return value

    def table_of(self, key: str) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            raise self.error(key, "must be a table ([" + key + "])")
        return value


def load_profile(path: str | Path, *, check_directories: bool = True) -> RecorderProfile:
    """Read and check a recorder profile; SetupError (one line: file + key) when it is unusable.

    `check_directories`: also check that a recordings directory known before start-up exists
    (recorder already running) or can be created and written (arec starts the recorder).
    """
    file = Path(path).expanduser().resolve()
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SetupError(f"recorder profile {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SetupError(f"recorder profile {path}: cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise SetupError(f"recorder profile {path}: not valid TOML ({error})") from None
    top = _Reader(file, "", document)
    name = top.text("name") or file.stem
    sip_table = top.table_of("sip")
    if sip_table is None:
        raise SetupError(f"recorder profile {file}: [sip] address: missing (required), e.g. "
                         'address = "sip:127.0.0.1:5080"')
    sip = _Reader(file, "sip", sip_table)
    address = sip.text("address", required=True)
    assert address is not None
    host, port, transport = _parse_address(sip, address)

    process = _process(file, top.table_of("process"))
    if port == 0 and (process is None or "port" not in placeholders(process.command)):
        raise sip.error("address", "port 0 (arec picks a free port) needs a [process] command that uses {port}")
    recordings = _recordings(file, top.table_of("recordings"), managed=process is not None)
    if process is not None and recordings is None and "recordings" in placeholders(process.command):
        # {recordings} is the [recordings] directory: without the table there is nothing to fill in.
        raise _Reader(file, "process", {}).error("command", "uses {recordings} but the profile has no "
                                                 "[recordings] table to say where that is")
    capabilities = _capabilities(file, top.table_of("capabilities"))
    profile = RecorderProfile(file, name, host, port, transport, process, recordings, capabilities,
                              _impairments(file, top.table_of("media")))
    if check_directories:
        check_recordings_dir(profile)
    return profile


def _impairments(file: Path, table: Mapping[str, Any] | None) -> str | None:
    if table is None:
        return None
    r = _Reader(file, "media", table)
    knobs = r.text("impairments")
    if knobs is not None:
        try:
            parse_impairments(knobs)
        except ValueError as error:
            raise r.error("impairments", str(error)) from None
    return knobs


def _parse_address(sip: _Reader, address: str) -> tuple[str, int, str]:
    match = _ADDRESS.match(address.strip())
    transport = (match.group("transport") or "udp").lower() if match else ""
    if match is None or int(match.group("port")) > 65535 or transport not in ("udp", "tcp"):
        raise sip.error("address", f"{address!r} is not sip:HOST:PORT[;transport=udp|tcp]")
    return match.group("host").strip("[]"), int(match.group("port")), transport


def _process(file: Path, table: Mapping[str, Any] | None) -> ProcessSpec | None:
    if table is None:
        return None
    r = _Reader(file, "process", table)
    command = r.template("command", PROCESS_PLACEHOLDERS, required=True)
    assert command is not None
    ready_line = r.text("ready_line")
    if ready_line is not None:
        try:
            re.compile(ready_line)
        except re.error as error:
            raise r.error("ready_line", f"not a valid regular expression ({error})") from None
    return ProcessSpec(command, ready_line, r.number("ready_timeout_s", DEFAULT_READY_TIMEOUT_S, positive=True),
                       r.flag("netns", False), r.choice("scope", SCOPES, "scenario"))


def _recordings(file: Path, table: Mapping[str, Any] | None, *, managed: bool) -> RecordingsSpec | None:
    if table is None:
        return None
    r = _Reader(file, "recordings", table)
    directory = r.template("directory", DIRECTORY_PLACEHOLDERS, required=True)
    assert directory is not None
    runtime = placeholders(directory) - {"profile_dir"}
    if runtime and not managed:
        raise r.error("directory", f"uses {{{sorted(runtime)[0]}}}, which only exists when arec starts the "
                      "recorder ([process])")
    locate = r.choice("locate", LOCATES, "pattern")
    layout = r.choice("layout", LAYOUTS, "mono-per-stream")
    pattern = r.template("pattern", CALL_PLACEHOLDERS, required=locate == "pattern" and layout != "reference")
    glob = r.text("glob", "*.wav")
    assert glob is not None
    metadata = r.template("metadata", CALL_PLACEHOLDERS - {"dn", "call_id"}, required=locate == "metadata")
    participant_map = r.template("participant_map", CALL_PLACEHOLDERS - {"dn", "call_id"}, required=False)
    for key, value in (("pattern", pattern), ("glob", glob), ("metadata", metadata),
                       ("participant_map", participant_map)):
        if value is not None and (value.startswith(("/", "~")) or ".." in Path(value).parts):
            raise r.error(key, f"{value!r} must be relative to the recordings directory, inside it")
    if pattern is not None and layout == "mono-per-stream" and not placeholders(pattern) & {"dn", "call_id"}:
        raise r.error("pattern", f"{pattern!r}: a mono-per-stream pattern needs {{dn}} (or {{call_id}}) to tell "
                      "the streams' files apart")
    if pattern is not None and layout == "stereo" and "dn" in placeholders(pattern):
        raise r.error("pattern", f"{pattern!r}: a stereo file holds both streams, so {{dn}} has no single value "
                      "(use {record_dn})")
    channels = r.strings("channels", (), (*SIDES, "metadata"))
    if layout == "stereo":
        if not channels:
            raise r.error("channels", 'missing: a stereo layout must say which party is in channel 0, 1, '
                          'e.g. channels = ["customer", "agent"] (or ["metadata"])')
        if channels != ("metadata",) and sorted(channels) != sorted(SIDES):
            raise r.error("channels", f'{list(channels)}: name each of "customer" and "agent" once '
                          '(or ["metadata"])')
        if channels == ("metadata",) and metadata is None:
            raise r.error("channels", '["metadata"] needs [recordings] metadata = "<pattern of the JSON file>"')
    elif channels:
        raise r.error("channels", f"only for layout = \"stereo\" (this layout is {layout!r})")
    return RecordingsSpec(directory, locate, pattern, glob, metadata, layout, channels,
                          r.choice("format", FORMATS, "pcm16"), r.number("settle_s", 2.0), participant_map)


def _capabilities(file: Path, table: Mapping[str, Any] | None) -> Capabilities:
    r = _Reader(file, "capabilities", table or {})
    return Capabilities(
        tlib_client=r.flag("tlib_client", False),
        rules_configurable=r.flag("rules_configurable", False),
        attached_data_in_metadata=r.flag("attached_data_in_metadata", False),
        session_modes=frozenset(r.strings("session_modes", tuple(sorted(ALL_SESSION_MODES)),
                                          tuple(sorted(KNOWN_SESSION_MODES)))),
        pause_profiles=frozenset(r.strings("pause_profiles", tuple(sorted(ALL_PAUSE_PROFILES)),
                                           tuple(sorted(ALL_PAUSE_PROFILES)))),
        capacity=_capacity(r),
        codecs=BASE_CODECS | frozenset(r.strings("codecs", tuple(sorted(BASE_CODECS)), tuple(sorted(ALL_CODECS)))),
    )


def _capacity(r: _Reader) -> int | None:
    """Concurrent recording sessions the recorder accepts; absent: unknown (SIP-CAPACITY-503 n/a)."""
    value = r.data.get("capacity")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise r.error("capacity", f"must be a whole number of sessions of at least 1, not {value!r}")
    return value


def program_found(profile: RecorderProfile, program: str) -> bool:
    """The command's program exists: on PATH, or a file (relative paths: to the profile's
    directory, where the command runs)."""
    if "/" in program:
        path = Path(program).expanduser()
        path = path if path.is_absolute() else profile.profile_dir / path
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program) is not None


def check_recordings_dir(profile: RecorderProfile, values: Mapping[str, str] | None = None) -> Path | None:
    """The recordings directory, checked: it must exist and be readable when the recorder is
    already running; arec may create it when it starts the recorder, and it must be writable
    then. Skipped (None) while it depends on values only known at start-up ({work_dir}...)."""
    spec = profile.recordings
    if spec is None:
        return None
    if values is None and placeholders(spec.directory) - {"profile_dir"}:
        return None
    directory = profile.recordings_dir(values or {})
    assert directory is not None
    where = f"recorder profile {profile.path}: [recordings] directory"
    if profile.process is None:
        if not directory.is_dir():
            raise SetupError(f"{where}: {directory} not found (the recorder must be writing there)")
        if not os.access(directory, os.R_OK | os.X_OK):
            raise SetupError(f"{where}: {directory} is not readable by arec")
        return directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SetupError(f"{where}: cannot create {directory} ({error.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SetupError(f"{where}: {directory} is not writable")
    return directory


__all__ = ["PROCESS_PLACEHOLDERS", "ProcessSpec", "RecorderProfile", "check_recordings_dir", "load_profile",
           "program_found"]
