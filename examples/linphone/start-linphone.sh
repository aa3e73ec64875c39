#!/bin/sh
# Render linphonec's config for one run, start it in file mode and answer every incoming call.
# Usage: start-linphone.sh ADDRESS PORT WORK_DIR RECORDINGS_DIR
#
# Why a wrapper and not `linphonec -a`: linphonec's own auto-answer accepts the *current* call,
# so a second INVITE arriving while the first call runs is never answered (180 Ringing, then
# "checkForAcceptation() ... operation not permitted" in its log). Here each "Receiving new
# incoming call ..., assigned id N" line is answered with `answer N`.
# `soundcard use files` + `record FILE`: no sound card; what would be played (the decoded
# received audio) goes to FILE. `record` must be given before any call: given while a call is
# ringing, linphonec 5.1.65 crashes (segmentation fault); given during a call, it moves that
# call's recording to the new file. So there is ONE file per process: linphone.wav.
# arec stops us with SIGTERM: we send `quit`, linphonec ends its calls and closes the file.
set -eu
if [ $# -ne 4 ]; then
  echo "usage: $0 ADDRESS PORT WORK_DIR RECORDINGS_DIR" >&2
  exit 2
fi
command -v linphonec >/dev/null 2>&1 || { echo "linphonec not found: apt-get install linphone-cli" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
conf="$3/linphone-config"
recordings="$4"
# liblinphone keeps a database under $HOME/.local/share/linphone: keep it in the work directory.
mkdir -p "$conf/home/.local/share/linphone" "$recordings"
sed -e "s|@PORT@|$2|g" "$here/linphonerc.in" > "$conf/linphonerc"
rm -f "$conf/commands" "$conf/output"
mkfifo "$conf/commands" "$conf/output"
export HOME="$conf/home"
cd "$conf"
# linphonec listens on every address of the namespace; $1 (ours there) is the only one besides lo.
linphonec -c "$conf/linphonerc" -d 5 -l "$conf/linphone.log" <"$conf/commands" >"$conf/output" 2>&1 &
linphonec_pid=$!
exec 3>"$conf/commands"
trap 'printf "quit\n" >&3 || true' TERM INT
printf 'soundcard use files\nrecord %s/linphone.wav\n' "$recordings" >&3
while IFS= read -r line; do
  printf '%s\n' "$line"
  case $line in
    *"Using wav files instead of soundcard."*)
      echo "linphonec is ready on $1:$2" ;;
    *"Receiving new incoming call from "*", assigned id "*)
      printf 'answer %s\n' "${line##* }" >&3 ;;
  esac
done <"$conf/output" &
wait "$linphonec_pid" || wait "$linphonec_pid" || true
