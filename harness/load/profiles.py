"""A recorder profile as `arec load` uses it: where to send SIP, where its recordings are.

`arec load` starts only the reference recorder; a profiled recorder must already be running at
the profile's fixed `sip.address` (a profile with port 0 is started per scenario by the suite,
which a load run spanning several hosts cannot do for it).
"""

from __future__ import annotations

from pathlib import Path

from harness.exitcodes import SetupError
from harness.recorders.locate import RecordingLocator
from harness.recorders.profile import RecorderProfile, load_profile

__all__ = ["load_target", "profile_locator"]


def load_target(path: Path) -> RecorderProfile:
    profile = load_profile(path, check_directories=False)
    if profile.port == 0:
        raise SetupError(f"{path}: sip.address has port 0 (arec starts it per scenario); for arec load, start "
                         "the recorder yourself and give its address in the profile")
    if profile.transport != "udp":
        raise SetupError(f"{path}: arec load places calls over UDP only, the profile says {profile.transport}")
    return profile


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
