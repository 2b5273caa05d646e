#!/usr/bin/env bash
# (Re)start the long teacher run in the background unless it is already running.
# Safe to call any number of times; everything resumes from ~/.cache/tessera/runs/teacher64.
# Pause / continue it with: kill -STOP $(cat ~/.cache/tessera/train.pid) / kill -CONT ...
# On a machine without the run's checkpoint (a fresh one), it continues from the committed teacher
# package models/teacher.tsr (or $TESSERA_INIT: another .tsr or export directory) with a fresh
# optimizer, rather than from random weights; TESSERA_INIT=none starts from scratch.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${TESSERA_CACHE:-$HOME/.cache/tessera}"
run="${TESSERA_RUN:-$cache/runs/teacher64}"
pidfile="$cache/train.pid"
if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q train_edm.py; then
    echo "teacher run already running (pid $pid), log: $run/log.jsonl"
    exit 0
  fi
fi
if [ ! -f "$cache/data/textures_64.pt" ]; then
  echo "dataset missing; building it first" >&2
  nice -n 19 /usr/bin/python3 "$here/make_dataset.py" --cache "$cache"
fi
mkdir -p "$run"
init=()
source_pkg="${TESSERA_INIT:-$here/../../models/teacher.tsr}"
if [ ! -f "$run/checkpoint.pt" ] && [ "$source_pkg" != none ] && [ -e "$source_pkg" ]; then
  init=(--init "$source_pkg")
fi
nohup nice -n 19 /usr/bin/python3 "$here/train_edm.py" --run-dir "$run" --data "$cache/data" \
  --pid-file "$pidfile" --threads 2 "${init[@]}" "$@" >> "$run/stdout.log" 2>&1 &
sleep 2
echo "teacher run started (pid $(cat "$pidfile" 2>/dev/null || echo "$!")), log: $run/log.jsonl"
