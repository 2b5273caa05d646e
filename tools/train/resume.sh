#!/usr/bin/env bash
# (Re)start tessera's long training runs in the background, each unless it is already running:
#   resume.sh                  both: the teacher (base model) and the 64->256 SR stage, one thread each
#   resume.sh teacher [ARGS]   only the teacher (train_edm.py ARGS, e.g. --threads 2)
#   resume.sh sr [ARGS]        only the SR stage (train_sr.py ARGS)
# Safe to call any number of times; everything resumes from ~/.cache/tessera/runs/{teacher64,sr256}.
# Pause / continue a run with: kill -STOP $(cat ~/.cache/tessera/train.pid) / kill -CONT ... (sr.pid for SR).
# On a machine without a run's checkpoint (a fresh one), the teacher continues from the committed
# package models/teacher.tsr (or $TESSERA_INIT: another .tsr or export directory) with a fresh
# optimizer, rather than from random weights; TESSERA_INIT=none starts from scratch. The SR stage
# likewise continues from stage 1 of models/teacher.tsr (or $TESSERA_SR_INIT; none: from scratch).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${TESSERA_CACHE:-$HOME/.cache/tessera}"

which="${1:-all}"
case "$which" in
  teacher|sr) shift ;;
  all) [ $# -gt 0 ] && shift; "$0" teacher --threads 1; exec "$0" sr --threads 1 ;;
  *) echo "usage: $0 [teacher|sr|all] [script args]" >&2; exit 2 ;;
esac

if [ "$which" = teacher ]; then
  script=train_edm.py; run="${TESSERA_RUN:-$cache/runs/teacher64}"; pidfile="$cache/train.pid"
  source_pkg="${TESSERA_INIT:-$here/../../models/teacher.tsr}"
else
  script=train_sr.py; run="${TESSERA_SR_RUN:-$cache/runs/sr256}"; pidfile="$cache/sr.pid"
  source_pkg="${TESSERA_SR_INIT:-$here/../../models/teacher.tsr:stage1}"
fi

if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$script"; then
    echo "$which run already running (pid $pid), log: $run/log.jsonl"
    exit 0
  fi
fi
if [ ! -f "$cache/data/textures_64.pt" ] || [ ! -f "$cache/data/textures_256.pt" ]; then
  echo "dataset missing; building it first" >&2
  nice -n 19 /usr/bin/python3 "$here/make_dataset.py" --cache "$cache"
fi
mkdir -p "$run"
init=()
if [ ! -f "$run/checkpoint.pt" ] && [ "$source_pkg" != none ] && [ -e "${source_pkg%:stage*}" ]; then
  init=(--init "$source_pkg")
fi
nohup nice -n 19 /usr/bin/python3 "$here/$script" --run-dir "$run" --data "$cache/data" \
  --pid-file "$pidfile" "${init[@]}" "$@" >> "$run/stdout.log" 2>&1 &
sleep 2
echo "$which run started (pid $(cat "$pidfile" 2>/dev/null || echo "$!")), log: $run/log.jsonl"
