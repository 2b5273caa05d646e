#!/usr/bin/env python3
"""One-screen status of a training run: alive?, step, images seen, loss, speed, last validation.

    /usr/bin/python3 tools/train/status.py [--run-dir ~/.cache/tessera/runs/teacher64]
    /usr/bin/python3 tools/train/status.py --run-dir ~/.cache/tessera/runs/ect64 --pid-file ~/.cache/tessera/ect.pid
"""
import argparse
import json
import os
import time

CACHE = os.path.expanduser("~/.cache/tessera")


def tail_jsonl(path, n):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines[-n:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=os.path.join(CACHE, "runs/teacher64"))
    ap.add_argument("--pid-file", default=os.path.join(CACHE, "train.pid"))
    args = ap.parse_args()
    pid, alive = None, False
    if os.path.exists(args.pid_file):
        with open(args.pid_file) as f:
            pid = f.read().strip()
        alive = os.path.exists(f"/proc/{pid}")
        if alive:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().split(")")[-1].split()[0]
            alive = "stopped (SIGSTOP)" if state == "T" else "running"
    print(f"run dir : {args.run_dir}")
    print(f"process : pid {pid} {alive or 'not running'}")
    logs = tail_jsonl(os.path.join(args.run_dir, "log.jsonl"), 20)
    if logs:
        last = logs[-1]
        loss = sum(r["loss"] for r in logs) / len(logs)
        age = (time.time() - last["time"]) / 60
        stage = f", stage {last['stage']}" if "stage" in last else ""  # consistency tuning (distill_ect.py)
        print(f"step    : {last['step']}  ({last.get('kimg', '?')} kimg, {last['train_h']} h of training{stage}; "
              f"last log {age:.0f} min ago)")
        print(f"loss    : {last['loss']} (mean of last {len(logs)} logs {loss:.4f})")
        print(f"speed   : {last['img_s']} img/s, {last.get('cpu_s_per_img', '?')} CPU s/img, lr {last['lr']:.3g}")
    for v in tail_jsonl(os.path.join(args.run_dir, "val.jsonl"), 3):
        print(f"val     : step {v['step']}: held-out {v['heldout']['mean']:.4f}  train {v['train']['mean']:.4f}")


if __name__ == "__main__":
    main()
