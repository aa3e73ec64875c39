"""safe_component / recording_dir / RecordingStore: nothing is ever written outside the root."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_recorder.storage import (
    RecordingStore,
    UnsafePathError,
    recording_dir,
    safe_component,
)

NASTY = [
    "../",
    "../../etc",
    "../../../../../../etc/passwd",
    "/abs",
    "/",
    "a/b",
    "a\\b",
    "..\\..\\windows",
    "\x00",
    "a\x00b",
    "..",
    ".",
    ".hidden",
    "-rf",
    "x" * 10_000,
    "é日本語",
    "\udcff",  # lone surrogate (os.fsdecode of undecodable bytes)
    "",
    " ",
    "CON",
    "nul.wav",
    "abc.",
    "a--b",
    "a_b",
    "a?b",
    "a b",
    "sip:1000@10.0.0.1;record=x",
    "0A7BHS7V1L5IF0OK9G4V6C7JLO00001M",
]
SAFE_RE = re.compile(r"\A[A-Za-z0-9._-]+\Z")


def _check_component(out: str, max_len: int = 64) -> None:
    assert SAFE_RE.match(out), out
    assert 0 < len(out) <= max_len
    assert out not in (".", "..")
    assert not out.startswith((".", "-"))


@pytest.mark.parametrize("value", NASTY)
def test_every_value_maps_to_one_safe_component(value: str) -> None:
    out = safe_component(value)
    _check_component(out)
    assert safe_component(value) == out  # stable


def test_distinct_inputs_give_distinct_components() -> None:
    outs = [safe_component(v) for v in NASTY]
    assert len(set(outs)) == len(NASTY)
    # Values that sanitise alike still differ.
    alike = ["a/b", "a\\b", "a?b", "a b", "a\x00b", "a_b"]
    assert len({safe_component(v) for v in alike}) == len(alike)
    # Two long values differing only past max_len.
    assert safe_component("y" * 100 + "1") != safe_component("y" * 100 + "2")


def test_safe_values_unchanged_changed_values_hashed() -> None:
    for v in ("0A7BHS7V1L5IF0OK9G4V6C7JLO00001M", "rec-1.2_x", "a..b", "7001"):
        assert safe_component(v) == v
    out = safe_component("a/b")
    assert re.fullmatch(r"a_b--[0-9a-f]{16}", out)
    # A raw value that *looks* like a hashed result is itself hashed: no collision.
    assert safe_component(out) != out


def test_max_len_respected_and_validated() -> None:
    out = safe_component("z" * 500, max_len=30)
    _check_component(out, 30)
    with pytest.raises(ValueError):
        safe_component("a", max_len=5)
    with pytest.raises(TypeError):
        safe_component(b"abc")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.text(max_size=200))
def test_property_safe_and_injective(a: str, b: str) -> None:
    sa, sb = safe_component(a), safe_component(b)
    _check_component(sa)
    if a != b:
        assert sa != sb


def test_recording_dir_always_inside_root(tmp_path: Path) -> None:
    root = (tmp_path / "rec").resolve()
    root.mkdir()
    seen: set[Path] = set()
    for cu in NASTY:
        for rid in NASTY[:12]:
            d = recording_dir(root, cu, rid)
            assert d.resolve().is_relative_to(root)
            assert d.parent.parent == root
            seen.add(d)
    assert len(seen) == len(NASTY) * 12
    assert recording_dir(root, "c", "r", version=2).name == "r--v2"
    assert recording_dir(root, "c", "r--v2").name != "r--v2"


def test_recording_dir_refuses_symlink_escape(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "CALL1").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        recording_dir(root, "CALL1", "r1")
    store = RecordingStore(root, fsync=False)
    with pytest.raises(UnsafePathError):
        store.open_recording("CALL1", "r1", 0.0)
    assert list(outside.iterdir()) == []


def _walk_files(top: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        found += [Path(dirpath, n) for n in filenames + dirnames]
    return found


def test_store_with_hostile_identifiers_writes_only_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = RecordingStore(root, fsync=False)
    t0 = 1000.0
    recs = []
    for i, value in enumerate(NASTY):
        rec = store.open_recording(value, NASTY[-1 - i], t0, dn=value, record_dn=value)
        rec.add_stream("s1", dn=value, codec="PCMU", call_id=value, now=t0)
        rec.add_stream("s2", dn=NASTY[i - 1], codec="PCMU", call_id=value, now=t0)
        for k in range(5):
            rec.add_audio("s1", 160 * k, np.full(160, 100, np.int16), t0 + 0.02 * k)
        recs.append(rec)
    store.close_all(t0 + 1.0)
    # Nothing at all next to the root, everything below it, all directories distinct.
    assert [p.name for p in tmp_path.iterdir()] == ["root"]
    files = _walk_files(root)
    assert files
    for f in files:
        assert f.resolve().is_relative_to(root.resolve()), f
        assert not f.is_symlink()
        _check_component(f.name, 64)
    assert len({r.directory for r in recs}) == len(NASTY)
    for rec in recs:
        assert sorted(p.name for p in rec.directory.iterdir()) == sorted(
            ["recording.json", "call-stereo.wav"] + [f for s in rec.to_json(0)["streams"] for f in s["files"]]
        )


def test_open_recording_idempotent_and_versioned(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, fsync=False)
    a = store.open_recording("CU1", "R1", 10.0)
    assert store.open_recording("CU1", "R1", 11.0) is a  # second session of the same call
    assert store.has_open()
    forced = store.open_recording("CU1", "R1", 12.0, new_version=True)
    assert forced is not a and forced.directory.name == "R1--v2" and forced.version == 2
    store.close_all(13.0)
    assert not store.has_open()
    again = store.open_recording("CU1", "R1", 14.0)  # repeated INVITE after failover
    assert again.directory.name == "R1--v3"
    # A directory left by an earlier process is never reused.
    store2 = RecordingStore(tmp_path, fsync=False)
    assert store2.open_recording("CU1", "R1", 15.0).directory.name == "R1--v4"
    assert a.directory.name == "R1" and (a.directory / "recording.json").exists()
