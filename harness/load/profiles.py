"""A recorder profile as `arec load` uses it: where to send SIP, where its recordings are.

As in `arec run` (docs/recorder-profiles.md): a profile with a `[process]` is started by arec,
here once for the whole load run whatever its `scope` (a load run is one long scenario), on a
free port when `sip.address` has port 0, its recordings in the profile's `[recordings]`
directory under the run's report directory (`{work_dir}`); a profile without `[process]`
addresses a recorder that is already running. The master hands the workers the directory the
recorder really writes to, so each worker's locator reads the same files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from harness.exitcodes import SetupError
from harness.recorders.launcher import ProfileRecorder, sip_ping
from harness.recorders.locate import RecordingLocator
from harness.recorders.profile import RecorderProfile, load_profile
from harness.recorders.under_test import RecorderUnderTest

__all__ = ["load_target", "profile_locator", "profile_recorder"]


def load_target(path: Path) -> RecorderProfile:
    """The profile, refused with one line when `arec load` cannot drive it."""
    profile = load_profile(path, check_directories=False)
    if profile.transport != "udp":
        raise SetupError(f"{path}: arec load places calls over UDP only, the profile says {profile.transport}")
    if profile.process is not None and profile.process.netns:
        # The load UAC and RTP sockets bind loopback, which a namespaced recorder cannot reach.
        raise SetupError(f"{path}: [process] netns = true: arec load sends from 127.0.0.1 only")
    if profile.process is None and profile.port == 0:
        raise SetupError(f"{path}: sip.address has port 0 and no [process] to start the recorder with")
    return profile


@contextlib.contextmanager
def profile_recorder(path: Path, work_dir: Path) -> Iterator[RecorderUnderTest]:
    """The profile's recorder for the run: started (and stopped) here, or an already running one
    that must answer OPTIONS (RFC 3261 §11) before any call is placed."""
    profile = load_target(path)
    if profile.process is None and sip_ping(profile.host, profile.port, profile.transport, 3.0) is None:
        raise SetupError(f"{path}: no answer to OPTIONS from {profile.host}:{profile.port} (is the recorder running?)")
    work_dir.mkdir(parents=True, exist_ok=True)
    with ProfileRecorder(profile, work_dir).running() as recorder:
        yield recorder


def profile_locator(path: Path, recordings: Path | None) -> tuple[RecordingLocator | None, Path | None]:
    """The profile's locator on `recordings` (default: the profile's own directory)."""
    profile = load_target(path)
    if profile.recordings is None:
        return None, None
    root = recordings or profile.recordings_dir({"port": str(profile.port), "work_dir": str(Path.cwd()),
                                                 "ns_address": profile.host})
    if root is None:
        return None, None
    return RecordingLocator(profile.recordings, root), root
