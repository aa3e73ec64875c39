"""Recorder profile loader: every unusable profile is one line naming the file and the key."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.exitcodes import SetupError
from harness.recorders.profile import load_profile

REPO = Path(__file__).resolve().parents[3]

GOOD = """\
name = "vendor X"
[sip]
address = "sip:127.0.0.1:5080;transport=tcp"
[recordings]
directory = "{profile_dir}/rec"
pattern = "{calluuid}/{record_id}/stream-*-{dn}.wav"
[capabilities]
tlib_client = true
session_modes = ["two-session"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    (tmp_path / "rec").mkdir(exist_ok=True)
    with pytest.raises(SetupError) as caught:
        load_profile(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "rec.toml") in message
    return message


def test_good_profile_loads_with_its_values(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    profile = load_profile(write(tmp_path, GOOD))
    assert (profile.name, profile.host, profile.port, profile.transport) == ("vendor X", "127.0.0.1", 5080, "tcp")
    assert profile.process is None
    assert profile.recordings is not None and profile.recordings.layout == "mono-per-stream"
    assert profile.recordings_dir({}) == tmp_path / "rec"
    assert profile.capabilities.tlib_client and not profile.capabilities.rules_configurable
    assert profile.capabilities.session_modes == frozenset({"two-session"})
    assert profile.capabilities.capacity is None  # not given: unknown


def test_capacity_is_read_from_the_capabilities(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    profile = load_profile(write(tmp_path, GOOD + "capacity = 40\n"))
    assert profile.capabilities.capacity == 40


@pytest.mark.parametrize("name", ["stereo-per-call.toml", "mono-per-stream.toml"])
def test_example_profiles_load(name: str) -> None:
    profile = load_profile(REPO / "examples" / "profiles" / name)
    assert profile.process is not None and profile.port == 0
    assert profile.recordings is not None and profile.recordings.layout in ("stereo", "mono-per-stream")


def test_command_placeholders_are_filled_and_quoted(tmp_path: Path) -> None:
    text = GOOD.replace("[recordings]", '[process]\ncommand = "rec --port {port} --out {recordings} --cfg '
                        '{profile_dir}/x.cfg"\n[recordings]').replace("5080", "0")
    odd = tmp_path / "with space"
    odd.mkdir()
    (odd / "rec").mkdir()
    path = odd / "rec.toml"
    path.write_text(text, encoding="utf-8")
    profile = load_profile(path)
    argv = shlex.split(profile.command_text({"port": "7000", "recordings": str(odd / "rec")}))
    assert argv == ["rec", "--port", "7000", "--out", str(odd / "rec"), "--cfg", f"{odd}/x.cfg"]


@pytest.mark.parametrize(("text", "expected"), [
    ('name = "x"\n', "[sip] address: missing"),
    ('[sip]\n', "[sip] address: missing"),
    ('[sip]\naddress = "127.0.0.1:5060"\n', "[sip] address: '127.0.0.1:5060' is not sip:HOST:PORT"),
    ('[sip]\naddress = "sip:127.0.0.1:99999"\n', "[sip] address"),
    ('[sip]\naddress = "sip:h:5060;transport=sctp"\n', "[sip] address"),
    ('[sip]\naddress = "sip:h:5060"\nadress = 1\n', "adress: unknown key"),
    ('[sip]\naddress = "sip:h:5060"\n[recordings]\ndirectory = "rec"\npatern = "*.wav"\n',
     "[recordings] patern: unknown key"),
    ('[sip]\naddress = "sip:h:0"\n', "port 0"),
    ('[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec"\nready_timeout_s = "ten"\n',
     "[process] ready_timeout_s: must be a number"),
    ('[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec"\nready_timeout_s = 0\n',
     "[process] ready_timeout_s: must be greater than 0"),
    ('[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec {prot}"\n', "[process] command: unknown placeholder {prot}"),
    ('[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec"\nscope = "once"\n', "[process] scope: 'once'"),
    ('[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec"\nready_line = "(("\n', "[process] ready_line"),
    ('[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec --dir {recordings}"\n', "[process] command"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\nlocate = "guess"\n', "[recordings] locate: 'guess'"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{dn}.wav"\nlayout = "quad"\n',
     "[recordings] layout: 'quad'"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{dn}.wav"\nformat = "mp3"\n',
     "[recordings] format: 'mp3'"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{calluid}/{dn}.wav"\n',
     "[recordings] pattern: unknown placeholder {calluid}"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{dn.wav"\n',
     "[recordings] pattern: malformed placeholder"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{calluuid}.wav"\n',
     "[recordings] pattern: '{calluuid}.wav': a mono-per-stream pattern needs {dn}"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\n', "[recordings] pattern: missing"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{calluuid}.wav"\nlayout = "stereo"\n',
     "[recordings] channels: missing: a stereo layout must say which party"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{calluuid}.wav"\nlayout = "stereo"\n'
     'channels = ["customer", "customer"]\n', "[recordings] channels"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "/abs/{dn}.wav"\n',
     "[recordings] pattern: '/abs/{dn}.wav' must be relative"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "{work_dir}/rec"\npattern = "{dn}.wav"\n',
     "[recordings] directory: uses {work_dir}"),
    ('[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "rec"\npattern = "{dn}.wav"\nsettle_s = -1\n',
     "[recordings] settle_s: must be at least 0"),
    ('[sip]\naddress = "sip:h:1"\n[capabilities]\ntlib_client = "yes"\n', "[capabilities] tlib_client: must be true"),
    ('[sip]\naddress = "sip:h:1"\n[capabilities]\nsession_modes = ["three-session"]\n',
     "[capabilities] session_modes: 'three-session'"),
    ('[sip]\naddress = "sip:h:1"\n[capabilities]\ncapacity = 0\n', "[capabilities] capacity: must be a whole number"),
    ('[sip]\naddress = "sip:h:1"\n[capabilities]\ncapacity = 2.5\n', "[capabilities] capacity: must be a whole number"),
    ('[sip\naddress = "sip:h:1"\n', "not valid TOML"),
    ('[sip]\naddress = "sip:h:1"\n[media]\nimpairments = "loss=2"\n', "[media] impairments: loss is a rate"),
    ('[sip]\naddress = "sip:h:1"\n[media]\nshaping = "x"\n', "[media] shaping: unknown key"),
])
def test_bad_profile_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no such file"):
        load_profile(tmp_path / "nope.toml")


def test_recordings_dir_of_a_running_recorder_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, '[sip]\naddress = "sip:h:1"\n[recordings]\ndirectory = "missing"\npattern = "{dn}.wav"\n')
    with pytest.raises(SetupError, match=r"\[recordings\] directory: .*missing not found"):
        load_profile(path)
    assert load_profile(path, check_directories=False).recordings is not None  # offline use


def test_recordings_dir_arec_cannot_create_is_reported(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    path = write(tmp_path, '[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec"\n[recordings]\n'
                 'directory = "file/rec"\npattern = "{dn}.wav"\n')
    with pytest.raises(SetupError, match=r"\[recordings\] directory: cannot create .*file/rec"):
        load_profile(path)


def test_managed_recorder_directory_is_created(tmp_path: Path) -> None:
    path = write(tmp_path, '[sip]\naddress = "sip:h:1"\n[process]\ncommand = "rec"\n[recordings]\n'
                 'directory = "new/rec"\npattern = "{dn}.wav"\n')
    load_profile(path)
    assert (tmp_path / "new" / "rec").is_dir()


def test_a_siprec_profile_names_its_participant_map(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    text = GOOD.replace('pattern = "{calluuid}/{record_id}/stream-*-{dn}.wav"',
                        'pattern = "{calluuid}/{record_id}/stream-*-{dn}.wav"\n'
                        'participant_map = "{calluuid}/{record_id}/participants.json"')
    text = text.replace('session_modes = ["two-session"]', 'session_modes = ["siprec"]')
    profile = load_profile(write(tmp_path, text))
    assert profile.recordings is not None
    assert profile.recordings.participant_map == "{calluuid}/{record_id}/participants.json"
    assert profile.capabilities.session_modes == frozenset({"siprec"})
    assert "participant_map" in load_error(tmp_path, text.replace("/participants.json", "/{dn}.json"))
    assert "session_modes" in load_error(tmp_path, text.replace('["siprec"]', '["sip-rec"]'))
def test_media_impairments_are_read(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[sip]\naddress = "sip:h:1"\n[media]\nimpairments = "loss=0.02,jitter=20,seed=7"\n')
    assert load_profile(path, check_directories=False).impairments == "loss=0.02,jitter=20,seed=7"
    path.write_text('[sip]\naddress = "sip:h:1"\n')
    assert load_profile(path, check_directories=False).impairments is None


def test_codecs_capability(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[sip]\naddress = "sip:h:1"\n[capabilities]\ncodecs = ["G722"]\n')
    assert load_profile(path, check_directories=False).capabilities.codecs == {"PCMU", "PCMA", "G722"}
    path.write_text('[sip]\naddress = "sip:h:1"\n')
    assert load_profile(path, check_directories=False).capabilities.codecs == {"PCMU", "PCMA"}
    path.write_text('[sip]\naddress = "sip:h:1"\n[capabilities]\ncodecs = ["G729"]\n')
    with pytest.raises(SetupError, match="codecs: 'G729' is not one of"):
        load_profile(path, check_directories=False)
