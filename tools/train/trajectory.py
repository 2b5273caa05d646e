#!/usr/bin/env python3
"""The quality trajectory: SWD (and the other columns) against the CPU hours the model had, as a
Markdown table, from the jsonl that `evaluate.py --trajectory` appends to (docs/trajectory.jsonl).

    /usr/bin/python3 tools/train/trajectory.py [docs/trajectory.jsonl] [--row heun35]

The last column says whether the run is still improving by the issue's rule: the SWD is at least 5 %
better than the best measured at least 10 CPU hours before (blank until 10 hours have passed).
"""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path, row_key):
    points = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            rows = {r["key"]: r for r in rec["rows"]}
            if row_key not in rows:
                continue
            model = rec["models"].get("student" if row_key.startswith("student") else "teacher", {})
            points.append({"cpu_h": model.get("cpu_hours"), "step": model.get("step"), "kimg": model.get("kimg"),
                           "floor": rows.get("real", {}).get("swd"), "cfg": rec.get("cfg", 1.0), **rows[row_key]})
    return sorted(points, key=lambda p: (p["cpu_h"] or 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", default=os.path.join(HERE, "..", "..", "docs", "trajectory.jsonl"))
    ap.add_argument("--row", default="heun35")
    args = ap.parse_args()
    pts = load(args.path, args.row)
    print(f"| CPU h | step | kimg | SWD ({args.row}) | ÷ floor | colour W1 | seam | class acc. | NN dist. | "
          f"5 % better than ≥ 10 CPU h before? |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in pts:
        older = [q["swd"] for q in pts if q["cpu_h"] is not None and p["cpu_h"] is not None
                 and q["cpu_h"] <= p["cpu_h"] - 10]
        verdict = ("yes" if p["swd"] <= 0.95 * min(older) else "no") if older else ""
        ratio = f"{p['swd'] / p['floor']:.2f}" if p.get("floor") else "–"
        print(f"| {p['cpu_h']} | {p['step']} | {p['kimg']:.0f} | {p['swd']:.1f} | {ratio} | {p.get('colour', '–')} | "
              f"{p.get('seam', '–')} | {p.get('class_acc', '–')} | {p.get('nn_dist', '–')} | {verdict} |")


if __name__ == "__main__":
    main()
