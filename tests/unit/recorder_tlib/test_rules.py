"""Recording rules of the reference recorder's T-Lib client: patterns, share, windows, bad files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from reference_recorder.rules import (
    TlibConfigError,
    load_config,
    parse_config,
    parse_window,
    share_fraction,
    share_selects,
)

# 2024-01-01 is a Monday.
MON = datetime(2024, 1, 1, 12, 0)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day 0 = Monday 2024-01-01."""
    return datetime(2024, 1, 1 + day, hour, minute)


FULL = """
register = ["7001", "7002", "8001"]

[[rules]]
name = "no 7002"
dns = ["7002"]
share = 0.0

[[rules]]
name = "agents 70xx"
dns = ["70*", "71??"]
share = 1.0
windows = ["Mon-Sun 00:00-24:00"]
record = "destination"

[pause]
key = "PCI"
pause_value = "on"
resume_value = "off"
"""


def test_full_file_parses_and_first_applicable_rule_decides() -> None:
    config = parse_config(FULL, "rules.toml")
    assert config.register == ("7001", "7002", "8001")
    assert [r.name for r in config.rules] == ["no 7002", "agents 70xx"]
    assert config.pause is not None and config.pause.key == "PCI"
    rule = config.decide("7001", "ANY-UUID", MON)
    assert rule is not None and rule.name == "agents 70xx" and rule.record == "destination"
    assert config.decide("7105", "ANY-UUID", MON) is not None  # 71?? matches four characters
    assert config.decide("710", "ANY-UUID", MON) is None
    # the share-0 rule comes first and wins: an exclusion, no fall-through to "70*"
    assert config.decide("7002", "ANY-UUID", MON) is None
    assert config.decide("8001", "ANY-UUID", MON) is None  # no rule names it


def test_defaults_empty_and_missing_file(tmp_path: Path) -> None:
    assert parse_config("", "x").rules == ()
    missing = load_config(tmp_path / "nope.toml")
    assert missing.register == () and missing.rules == () and missing.pause is None
    rule = parse_config("[[rules]]\n").rules[0]
    assert (rule.dns, rule.share, rule.windows, rule.record, rule.name) == (("*",), 1.0, (), "source", "rule 1")


def test_share_is_deterministic_and_proportional_over_1000_uuids() -> None:
    uuids = [f"{i:08d}-CALL-UUID-{i * 7919:x}" for i in range(1000)]
    selected = [u for u in uuids if share_selects(u, 0.3)]
    assert selected == [u for u in uuids if share_selects(u, 0.3)]  # same answer every time
    assert 240 <= len(selected) <= 360  # ~300; binomial sd ~14.5, this is > 4 sd
    assert all(share_selects(u, 1.0) for u in uuids)
    assert not any(share_selects(u, 0.0) for u in uuids)
    # monotonic: a call recorded at 30 % is recorded at 50 % too
    assert set(selected) <= {u for u in uuids if share_selects(u, 0.5)}
    # predictable from the documented formula
    import hashlib

    u = uuids[0]
    assert share_fraction(u) == int.from_bytes(hashlib.sha256(u.encode()).digest()[:8], "big") / 2**64


@pytest.mark.parametrize(
    ("window", "inside", "outside"),
    [
        ("Mon-Fri 09:00-17:00", [at(0, 9), at(4, 16, 59)], [at(0, 8, 59), at(0, 17), at(5, 12)]),
        ("09:00-17:00", [at(6, 10)], [at(6, 18)]),
        ("Sat,Sun 00:00-24:00", [at(5, 0), at(6, 23, 59)], [at(0, 0), at(4, 23, 59)]),
        ("Fri-Mon 10:00-11:00", [at(4, 10), at(5, 10), at(6, 10), at(7, 10)], [at(1, 10), at(3, 10)]),
        # crossing midnight: Friday 22:00 to Saturday 02:00 (the days name the start day)
        ("Fri 22:00-02:00", [at(4, 22), at(4, 23, 59), at(5, 1, 59)], [at(4, 21, 59), at(5, 2), at(3, 1)]),
        ("Sun 23:00-01:00", [at(6, 23, 30), at(7, 0, 30)], [at(5, 23, 30), at(6, 0, 30)]),
    ],
)
def test_windows(window: str, inside: list[datetime], outside: list[datetime]) -> None:
    w = parse_window(window)
    assert all(w.contains(t) for t in inside), [t for t in inside if not w.contains(t)]
    assert not any(w.contains(t) for t in outside), [t for t in outside if w.contains(t)]


def test_rule_outside_its_window_does_not_apply_and_the_next_rule_is_tried() -> None:
    config = parse_config(
        '[[rules]]\nname="day"\ndns=["7*"]\nwindows=["Mon-Fri 08:00-18:00"]\nrecord="source"\n'
        '[[rules]]\nname="night"\ndns=["7*"]\nrecord="destination"\n'
    )
    day = config.decide("7001", "U", at(0, 9))
    night = config.decide("7001", "U", at(0, 20))
    assert day is not None and day.name == "day"
    assert night is not None and night.name == "night"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rules]]\nwindows = ["Mon-Fri 9-17"]', "rules[0].windows: window 'Mon-Fri 9-17' is not"),
        ('[[rules]]\nwindows = ["Mon-Fry 09:00-17:00"]', "'Fry' is not a day"),
        ('[[rules]]\nwindows = ["Mon 25:00-26:00"]', "'25:00' is not a time of day"),
        ('[[rules]]\nwindows = ["Mon 10:00-10:00"]', "start and end are equal"),
        ("[[rules]]\nshare = 1.5", "rules[0].share must be a number in 0..1, got 1.5"),
        ("[[rules]]\nshare = -0.1", "rules[0].share must be a number in 0..1"),
        ('[[rules]]\nshare = "all"', "rules[0].share must be a number in 0..1"),
        ('[[rules]]\nrecord = "both"', "rules[0].record must be one of source|destination, got 'both'"),
        ('register = "7001"', "register must be a list of non-empty strings"),
        ('[[rules]]\ndns = "70*"', "rules[0].dns must be a list"),
        ('[[rules]]\ndn = ["70*"]', "rules[0]: unknown setting 'dn'"),
        ('registers = ["7001"]', "unknown setting 'registers'"),
        ('[pause]\npause_value = "x"\nresume_value = "x"', "must differ"),
        ("[pause]\nkey = 3", "pause.key must be a non-empty string"),
        ("register = [", "invalid TOML"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(TlibConfigError) as caught:
        load_config(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path}: ")
    assert message in line


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(b"register = [\"\xff\"]")
    with pytest.raises(TlibConfigError, match="not UTF-8"):
        load_config(path)
