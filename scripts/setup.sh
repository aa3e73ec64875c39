#!/usr/bin/env bash
# Idempotent set-up for arec on Debian/Ubuntu: system tools, a virtualenv with the Python
# dependencies, and the pinned npm Allure report generator (the tests check the report too).
# Needs root (or sudo) only when a system package is missing; everything else runs as you.
set -euo pipefail
cd "$(dirname "$0")/.."


# 1. System packages: SIPp (sip-tester) drives the SIP legs, tcpdump captures loopback,
#    tshark is the reference the RTP statistics are compared against.
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# baresip (examples/baresip, tests/integration/test_baresip_endpoint.py): a real SIP endpoint
# as recorder under test. Measured on Debian 12: 17 packages, 12.9 MB download, 30.6 MB
# installed, ~5 s. iproute2 gives `ip netns` for the namespace it runs in.
command -v baresip >/dev/null 2>&1 || missing+=(baresip-core)
# linphonec (examples/linphone, tests/integration/test_linphone_endpoint.py). Measured on Debian
# 12 with --no-install-recommends: 72 packages, 40.1 MB download, 134 MB installed, ~10 s.
command -v linphonec >/dev/null 2>&1 || missing+=(linphone-cli)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "setup: missing system packages: ${missing[*]} (run as root: apt-get install -y ${missing[*]})" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  # tshark asks whether non-root users may capture; the default answer (no) is fine here.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Python virtualenv, re-installed only when pyproject.toml changed.
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.arec-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

# 3. The report generator (Allure 3, pure Node, pinned in package.json; no Java).
if [ -f package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null;
    else echo "setup: npm missing (apt-get install nodejs npm)" >&2; exit 2; fi
  fi
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    echo "setup: installing the report generator (npm ci)"
    npm ci --silent --no-audit --no-fund >/dev/null
  fi
fi
