"""The demo's numbers in README.md, from a real run of `microformer demo --json`.

    python benchmarks/readme_numbers.py --run      # run the demo (~5 min), record, rewrite README
    python benchmarks/readme_numbers.py --from demo-out   # record a finished `make demo` run
    python benchmarks/readme_numbers.py            # rewrite README from the recorded run
    python benchmarks/readme_numbers.py --check    # exit 1 when README differs from the record
    (`make readme-numbers` is the first.)

The record is benchmarks/demo_numbers.json: the demo's results (DIR/results.json, the
same object `microformer demo --json` prints last) plus the dataset it wrote
(recordings per label, shortest and longest recording), counted from the files. README
marks each generated piece with <!-- demo:KEY --> ... <!-- /demo:KEY -->; nothing between
the marks is edited by hand (tests/host/test_readme_numbers.py fails when it is).
"""
import argparse
import csv
import json
import math
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RECORD = ROOT / "benchmarks" / "demo_numbers.json"
MARK = re.compile(r"<!-- demo:(?P<key>[a-z_]+) -->(?P<body>.*?)<!-- /demo:(?P=key) -->", re.S)


def dataset(data_dir):
    """Recordings per label and the shortest/longest recording (s) of the demo's dataset,
    from its CSV files (t column in seconds)."""
    per_label, lengths = {}, []
    for label in sorted(p for p in pathlib.Path(data_dir).iterdir() if p.is_dir()):
        files = sorted(label.glob("*.csv"))
        per_label[label.name] = len(files)
        for f in files:
            with open(f, newline="") as fh:
                rows = list(csv.reader(fh))
            t = [float(r[0]) for r in rows[1:]]
            lengths.append(t[-1] - t[0] + (t[1] - t[0]))  # samples * period
    counts = set(per_label.values())
    if len(counts) != 1:
        raise SystemExit(f"{data_dir}: labels have different recording counts {per_label}")
    return {"labels": list(per_label), "recordings_per_label": counts.pop(),
            "seconds_min": round(min(lengths), 1), "seconds_max": round(max(lengths), 1)}


def run_demo(out):
    """Runs `microformer demo --out OUT` at low priority (this interpreter's microformer)."""
    exe = pathlib.Path(sys.executable).parent / "microformer"
    cmd = ["nice", "-n", "10", str(exe) if exe.exists() else "microformer", "demo", "--out", str(out)]
    print("$ " + " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise SystemExit("the demo failed")


def record(out):
    """The demo's results (OUT/results.json, written by every demo run) and its dataset."""
    out = pathlib.Path(out)
    try:
        rec = json.loads((out / "results.json").read_text())
    except FileNotFoundError:
        raise SystemExit(f"{out / 'results.json'} does not exist: run `make demo` (or --run) first") from None
    if rec.get("target") != "sim":
        raise SystemExit(f"{out}: the README quotes a simulator run, this one ran on {rec.get('target')}")
    rec["dataset"] = dataset(out / "data")
    rec.pop("model", None)  # a path on the machine that ran it
    return rec


def render(rec):
    """{marker key: text} for the README's generated pieces."""
    d = rec["dataset"]
    st = rec["stage_seconds"]
    json_keys = ("accuracy", "arena_bytes", "float_accuracy", "int8_accuracy", "latency_us_p50",
                 "latency_us_p99", "model_bytes", "windows")
    first = ", ".join(f'"{k}": {json.dumps(rec[k])}' for k in json_keys[:4])
    second = ", ".join(f'"{k}": {json.dumps(rec[k])}' for k in json_keys[4:])
    stages = ", ".join(f'"{k}": {st[k]:g}' for k in ("data", "train", "quantize", "run") if k in st)
    return {
        "minutes": f"about {max(1, round(rec['total_seconds'] / 60))} minutes",
        "data": (f"{d['recordings_per_label']} recordings of {math.floor(d['seconds_min']):d}–"
                 f"{math.ceil(d['seconds_max']):d} s per label"),
        "json": ("\n```\n{" + first + ",\n " + second + ", ...,\n "
                 '"stage_seconds": {' + stages + ", ...}, "
                 f'"total_seconds": {rec["total_seconds"]:g}' + "}\n```\n"),
    }


def rewrite(text, pieces):
    """README text with every marked piece replaced; SystemExit naming a missing marker."""
    seen = set()

    def sub(m):
        seen.add(m["key"])
        if m["key"] not in pieces:
            raise SystemExit(f"README marker demo:{m['key']} has no generated text")
        return f"<!-- demo:{m['key']} -->{pieces[m['key']]}<!-- /demo:{m['key']} -->"

    out = MARK.sub(sub, text)
    missing = set(pieces) - seen
    if missing:
        raise SystemExit(f"README has no <!-- demo:KEY --> marker for {', '.join(sorted(missing))}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="store_true", help="run the demo first and record its numbers")
    p.add_argument("--out", default=str(ROOT / "demo-out"), help="the demo's working folder (--run)")
    p.add_argument("--from", dest="source", metavar="DIR",
                   help="record the numbers of a finished demo run (its --out folder, e.g. demo-out)")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when README differs")
    args = p.parse_args(argv)
    if args.run:
        run_demo(args.out)
    if args.run or args.source:
        rec = record(args.source or args.out)
        RECORD.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
        print(f"recorded {RECORD.relative_to(ROOT)}")
    rec = json.loads(RECORD.read_text())
    text = README.read_text()
    new = rewrite(text, render(rec))
    if args.check:
        if new != text:
            print(f"README.md differs from {RECORD.relative_to(ROOT)}: run python "
                  f"benchmarks/readme_numbers.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        tmp = README.with_suffix(".md.part")
        tmp.write_text(new)
        os.replace(tmp, README)
        print("README.md updated")
    else:
        print("README.md already matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
