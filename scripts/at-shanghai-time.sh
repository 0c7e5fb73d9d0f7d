#!/usr/bin/env bash
# Run a command with the clock of its processes (and their children) at a given hour of
# today in Asia/Shanghai, e.g. the quiet hours of the night:
#
#     bash scripts/at-shanghai-time.sh 23:30 .venv/bin/python -m pytest services/notify
#
# libfaketime (Debian's `faketime` package) shifts the clocks of every process by one fixed
# offset, so the processes agree with each other and the clock runs on from there. (Leaving
# the monotonic clock unfaked, FAKETIME_DONT_FAKE_MONOTONIC=1, breaks Python's time.sleep
# with libfaketime 0.9.10: EINVAL from clock_nanosleep.)
# The broker and the database run as they are: nothing of Suqiu's asks them the time.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 HH:MM[:SS] [YYYY-MM-DD] command [args...]" >&2
  exit 2
fi
at=$1; shift
day=today
if [[ ${1:-} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then day=$1; shift; fi
lib=""
for candidate in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
  [ -e "$candidate" ] && { lib=$candidate; break; }
done
if [ -z "$lib" ]; then
  echo "$0: libfaketime is not installed; install Debian's package: apt-get install -y faketime" >&2
  exit 1
fi
target=$(TZ=Asia/Shanghai date -d "$day $at" +%s)
# the real clock, even when this runs under an earlier faked one (make test inside a faked CI run)
offset=$(( target - $(env -u FAKETIME date +%s) ))
sign=+; [ "$offset" -lt 0 ] && sign=
echo "at-shanghai-time: running at $(TZ=Asia/Shanghai date -d "@$target" '+%Y-%m-%d %H:%M:%S %Z') (offset ${sign}${offset} s): $*" >&2
export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
export FAKETIME="${sign}${offset}"
export FAKETIME_DONT_RESET=1
exec "$@"
