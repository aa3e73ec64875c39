"""The reference recorder's T-Lib configuration: DNs to register, recording rules, pause key.

Contract (shared with the harness): documented in
docs/tlib-emulation.md "The reference recorder as a T-Lib client". Pure logic: no clock (the
local time to match windows against is passed in), no sockets; the only I/O is `load_config`
reading the file it is given.

Rule semantics (seed step 2, "the recorder decides to record"): a rule *applies* to a call when
the registered DN of the EventEstablished matches one of its fnmatch patterns and the local
time is inside one of its windows. The first applicable rule decides; its `share` then says
whether this call is recorded, from a hash of the CallUUID (deterministic, so a test can
predict it with `share_selects`). A share-0 rule is therefore an exclusion.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

__all__ = [
    "RECORD_VALUES",
    "PauseConfig",
    "Rule",
    "TlibConfigError",
    "TlibRecorderConfig",
    "Window",
    "load_config",
    "parse_config",
    "parse_window",
    "share_fraction",
    "share_selects",
]

# DOMAIN §3.2: GSIP_RECORD_START `record` is `source` (the ThisDN side) or `destination`.
RECORD_VALUES: Final = ("source", "destination")
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
_SECONDS_PER_DAY: Final = 24 * 3600
_WINDOW = re.compile(r"^(?:(?P<days>[A-Za-z,\- ]+?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
_TOP_KEYS: Final = frozenset({"register", "rules", "pause"})
_RULE_KEYS: Final = frozenset({"name", "dns", "share", "windows", "record"})
_PAUSE_KEYS: Final = frozenset({"key", "pause_value", "resume_value"})


class TlibConfigError(ValueError):
    """The configuration file is unusable; the message is one line naming file and setting."""


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly local-time window: on `days`, from `start` to `end` (seconds of the day).

    `end <= start` crosses midnight: "Fri 22:00-02:00" is Friday 22:00 to Saturday 02:00 (the
    days name the day the window *starts*).
    """

    days: frozenset[int]  # 0 = Monday (datetime.weekday())
    start: int
    end: int  # 86400 allowed ("24:00")
    text: str = ""

    def contains(self, when: datetime) -> bool:
        second = when.hour * 3600 + when.minute * 60 + when.second
        day = when.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= second < self.end
        # Crossing midnight: the late part belongs to the start day, the early part to the
        # day after it.
        return (day in self.days and second >= self.start) or ((day - 1) % 7 in self.days and second < self.end)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    dns: tuple[str, ...] = ("*",)
    share: float = 1.0
    windows: tuple[Window, ...] = ()  # empty: always
    record: str = "source"

    def applies(self, dn: str, when: datetime) -> bool:
        # fnmatchcase: DNs are compared as written, whatever the host OS's case rules.
        if not any(fnmatch.fnmatchcase(dn, pattern) for pattern in self.dns):
            return False
        return not self.windows or any(w.contains(when) for w in self.windows)


@dataclass(frozen=True, slots=True)
class PauseConfig:
    """Attached-data key whose value changes make the recorder pause / resume (seed step 9)."""

    key: str = "PCI"
    pause_value: str = "on"
    resume_value: str = "off"


@dataclass(frozen=True, slots=True)
class TlibRecorderConfig:
    register: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    pause: PauseConfig | None = None
    source: str = "<empty>"

    def decide(self, dn: str, calluuid: str, when: datetime) -> Rule | None:
        """The rule that records this call on `dn`, or None (no rule applies, or share says no)."""
        for rule in self.rules:
            if rule.applies(dn, when):
                return rule if share_selects(calluuid, rule.share) else None
        return None

    def rule_for(self, dn: str, when: datetime) -> Rule | None:
        """The first rule that applies, whatever its share says."""
        return next((rule for rule in self.rules if rule.applies(dn, when)), None)


def share_fraction(calluuid: str) -> float:
    """Where a CallUUID falls in [0, 1): the first 8 bytes of SHA-256(UTF-8), big-endian, / 2**64."""
    digest = hashlib.sha256(calluuid.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def share_selects(calluuid: str, share: float) -> bool:
    """True when a call with this CallUUID is in the recorded `share` (1.0: all, 0.0: none)."""
    return share_fraction(calluuid) < share


# --- parsing ---------------------------------------------------------------------------------


def _time_of_day(text: str, *, allow_24: bool) -> int:
    hours, _, minutes = text.partition(":")
    h, m = int(hours), int(minutes)
    if allow_24 and h == 24 and m == 0:
        return _SECONDS_PER_DAY
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return h * 3600 + m * 60


def _day(text: str) -> int:
    name = text.strip().lower()[:3]
    if len(text.strip()) < 3 or name not in _DAYS:
        raise ValueError(f"{text.strip()!r} is not a day (Mon..Sun)")
    return _DAYS.index(name)


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not dash:
            days.add(_day(first))
            continue
        a, b = _day(first), _day(last)
        # A range may wrap the week end: "Fri-Mon" is Fri, Sat, Sun, Mon.
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def parse_window(text: str) -> Window:
    """`[DAYS ]HH:MM-HH:MM`, DAYS = `Mon`, `Mon-Fri`, `Sat,Sun`, `Fri-Mon`, ...; no days: every day."""
    match = _WINDOW.match(text.strip())
    if match is None:
        raise ValueError(f"window {text!r} is not '[Mon-Fri ]HH:MM-HH:MM'")
    try:
        days = _days(match["days"]) if match["days"] else frozenset(range(7))
        start = _time_of_day(match["start"], allow_24=False)
        end = _time_of_day(match["end"], allow_24=True)
    except ValueError as error:
        raise ValueError(f"window {text!r}: {error}") from None
    if start == end:
        raise ValueError(f"window {text!r}: start and end are equal (use 00:00-24:00 for a whole day)")
    return Window(days, start, end, text)


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{what} must be a list of non-empty strings")
    return tuple(value)


def _unknown(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ValueError(f"{where}unknown setting {extra[0]!r} (known: {', '.join(sorted(allowed))})")


def _rule(index: int, table: object) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table ([[rules]])")
    _unknown(table, _RULE_KEYS, f"{where}: ")
    name = table.get("name", f"rule {index + 1}")
    if not isinstance(name, str):
        raise ValueError(f"{where}.name must be a string")
    dns = _strings(table.get("dns", ["*"]), f"{where}.dns")
    share = table.get("share", 1.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
        raise ValueError(f"{where}.share must be a number in 0..1, got {share!r}")
    record = table.get("record", "source")
    if record not in RECORD_VALUES:
        raise ValueError(f"{where}.record must be one of {'|'.join(RECORD_VALUES)}, got {record!r}")
    windows: list[Window] = []
    for text in _strings(table.get("windows", []), f"{where}.windows"):
        try:
            windows.append(parse_window(text))
        except ValueError as error:
            raise ValueError(f"{where}.windows: {error}") from None
    return Rule(name, dns, float(share), tuple(windows), str(record))


def _pause(table: object) -> PauseConfig:
    if not isinstance(table, dict):
        raise ValueError("pause must be a table ([pause])")
    _unknown(table, _PAUSE_KEYS, "pause: ")
    values = {key: table.get(key, getattr(PauseConfig(), key)) for key in _PAUSE_KEYS}
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"pause.{key} must be a non-empty string")
    if values["pause_value"] == values["resume_value"]:
        raise ValueError("pause.pause_value and pause.resume_value must differ")
    return PauseConfig(**values)


def parse_config(text: str, source: str = "<string>") -> TlibRecorderConfig:
    """Parse the TOML text; `TlibConfigError` ("SOURCE: what is wrong") on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TlibConfigError(f"{source}: invalid TOML: {error}") from None
    try:
        _unknown(data, _TOP_KEYS, "")
        register = _strings(data.get("register", []), "register")
        rules_value = data.get("rules", [])
        if not isinstance(rules_value, list):
            raise ValueError("rules must be an array of tables ([[rules]])")
        rules = tuple(_rule(i, table) for i, table in enumerate(rules_value))
        pause = _pause(data["pause"]) if "pause" in data else None
    except ValueError as error:
        raise TlibConfigError(f"{source}: {error}") from None
    return TlibRecorderConfig(tuple(dict.fromkeys(register)), rules, pause, source)


def load_config(path: Path) -> TlibRecorderConfig:
    """The configuration in `path`; a missing file is an empty configuration (contract)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return TlibRecorderConfig(source=str(path))
    except OSError as error:
        raise TlibConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TlibConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, str(path))

