#!/bin/sh
# Render baresip's config for one run and start it in the foreground (arec stops it with SIGTERM;
# baresip then closes its calls and the WAV files).
# Usage: start-baresip.sh ADDRESS PORT WORK_DIR RECORDINGS_DIR [ACCOUNT_USER]
# ACCOUNT_USER (default "recorder") is the only Request-URI user baresip 1.0 answers.
set -eu
if [ $# -ne 4 ] && [ $# -ne 5 ]; then
  echo "usage: $0 ADDRESS PORT WORK_DIR RECORDINGS_DIR [ACCOUNT_USER]" >&2
  exit 2
fi
user=${5:-recorder}
here=$(cd "$(dirname "$0")" && pwd)
conf="$3/baresip-config"
mkdir -p "$conf" "$4"
for f in config accounts; do
  sed -e "s|@ADDRESS@|$1|g" -e "s|@PORT@|$2|g" -e "s|@RECORDINGS@|$4|g" -e "s|@USER@|$user|g" "$here/$f.in" > "$conf/$f"
done
command -v baresip >/dev/null 2>&1 || { echo "baresip not found: apt-get install baresip-core" >&2; exit 2; }
exec baresip -f "$conf"
