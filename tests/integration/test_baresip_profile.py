"""`arec profile check examples/baresip/profile.toml` end to end: baresip 1.0 in a network
namespace refuses Genesys recording INVITEs (404), and the check says so in one line.

Needs root (network namespace, capture on the veth) and baresip-core (scripts/setup.sh).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "examples" / "baresip" / "profile.toml"


@pytest.fixture(autouse=True)
def _need_tools() -> None:
    missing = [tool for tool in ("baresip", "sipp", "ip", "tcpdump") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup.sh (apt-get install baresip-core ...)")
    if os.geteuid() != 0:
        pytest.fail("the baresip profile runs baresip in a network namespace: run the tests as root")


def _own_namespaces(pid: int) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [name for name in re.findall(r"^(arec-\d+-\d+)", listing, re.MULTILINE) if name.startswith(f"arec-{pid}-")]


def test_profile_check_reports_the_404_refusal_in_one_line() -> None:
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([shutil.which("arec", path=env["PATH"]) or "arec", "profile", "check", str(PROFILE)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=120)
    output = stdout + stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output, output
    # baresip answers OPTIONS and every Genesys recording INVITE with 404 Not Found (README.md).
    assert re.search(r"recorder reachable: OPTIONS to sip:10\.213\.\d+\.\d+:5060;transport=udp answered 404", stdout), output
    verdict = [line for line in stdout.splitlines() if "profile does not work" in line]
    assert len(verdict) == 1, output
    assert "0 of 2 recording INVITEs with 2xx (404, 404)" in verdict[0], output
    # The namespace arec made for baresip (named after the arec process) is gone.
    assert _own_namespaces(proc.pid) == [], output
