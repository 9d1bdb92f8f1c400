#!/usr/bin/env python3
"""The README's "Three techniques" table from finished recipe runs (standard library only).

    python3 bench/three_techniques.py runs/banking77 runs/lora runs/qlora

Per run directory: the method (run_config.json), the trained parameters (the last
checkpoint's model.safetensors or adapter_model.safetensors), the test-split evaluation
(eval-test/metrics.json), the card_arrival / card_delivery_estimate confusions, the last
checkpoint's size, rank 0's peak RSS and the median step (metrics.jsonl), and the time in
steps, in validation and from the start to the test report (a run that was resumed counts
only its steps and validations; the wall figure then spans the interruption too).
"""
import datetime
import glob
import json
import os
import statistics
import struct
import sys


def tensor_elements(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    total = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for d in t["shape"]:
            count *= d
        total += count
    return total


def row(run):
    config = json.load(open(os.path.join(run, "run_config.json")))
    method = config["options"].get("method", "full")
    checkpoints = sorted(glob.glob(os.path.join(run, "checkpoint-*")))
    last = checkpoints[-1]
    weights = os.path.join(last, "adapter_model.safetensors")
    if not os.path.exists(weights):
        weights = os.path.join(last, "model.safetensors")
    size = sum(os.path.getsize(os.path.join(last, f)) for f in os.listdir(last))
    metrics = json.load(open(os.path.join(run, "eval-test", "metrics.json")))
    steps = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    validations = [json.loads(l) for l in open(os.path.join(run, "validation.jsonl"))]
    confusions = confusion_pairs(os.path.join(run, "eval-test", "confusion.csv"))
    started = datetime.datetime.fromisoformat(config["startedAt"].replace("Z", "+00:00"))
    ended = datetime.datetime.fromtimestamp(os.path.getmtime(os.path.join(run, "eval-test", "metrics.json")),
                                            tz=datetime.timezone.utc)
    resumes = sorted(glob.glob(os.path.join(run, "run_config.resume-*.json")))
    return {
        "run": run, "method": method, "ranks": config["worldSize"],
        "trained_parameters": tensor_elements(weights),
        "test_accuracy": metrics["accuracy"], "correct": metrics["correct"], "examples": metrics["examples"],
        "macro_f1": metrics["macroF1"], "invalid": metrics["invalid"],
        "delivery_to_arrival": confusions[("card_delivery_estimate", "card_arrival")],
        "arrival_to_delivery": confusions[("card_arrival", "card_delivery_estimate")],
        "checkpoint": os.path.basename(last), "checkpoint_bytes": size,
        "peak_rss_rank0_bytes": max(s["rss_bytes"] for s in steps),
        "steps": len(steps), "median_step_seconds": statistics.median(s["seconds"] for s in steps),
        "step_hours": sum(s["seconds"] for s in steps) / 3600,
        "validation_minutes": sum(v["seconds"] for v in validations) / 60,
        "validation_accuracy": [round(100 * v["accuracy"], 2) for v in validations],
        "wall_hours": (ended - started).total_seconds() / 3600, "resumes": len(resumes),
        "last25_loss": statistics.mean(s["loss"] for s in steps[-25:]),
    }


def confusion_pairs(path):
    lines = [l.rstrip("\n").split(",") for l in open(path)]
    header = lines[0][1:]
    pairs = {}
    for line in lines[1:]:
        for predicted, count in zip(header, line[1:]):
            pairs[(line[0], predicted)] = int(count)
    return pairs


if __name__ == "__main__":
    rows = [row(r) for r in sys.argv[1:]]
    print(json.dumps(rows, indent=1))
    print()
    print("| | " + " | ".join(f"`--method {r['method']}`" for r in rows) + " |")
    print("|---" * (len(rows) + 1) + "|")
    def line(name, f):
        print(f"| {name} | " + " | ".join(f(r) for r in rows) + " |")
    line("test accuracy (3,080 rows)", lambda r: f"**{100 * r['test_accuracy']:.2f}%** ({r['correct']} correct)")
    line("macro-F1", lambda r: f"{r['macro_f1']:.4f}")
    line("outputs that are no intent", lambda r: f"{r['invalid']} ({100 * r['invalid'] / r['examples']:.2f}%)")
    line("`card_delivery_estimate` → `card_arrival` / the reverse",
         lambda r: f"{r['delivery_to_arrival']} / {r['arrival_to_delivery']}")
    line("trained parameters", lambda r: f"{r['trained_parameters']:,}")
    line("last checkpoint on disk", lambda r: f"{r['checkpoint_bytes'] / 1e6:,.0f} MB")
    line("peak RSS, rank 0", lambda r: f"{r['peak_rss_rank0_bytes'] / 1e9:.2f} GB")
    line("s/step (median, np=2 × 1 thread)", lambda r: f"{r['median_step_seconds']:.2f}")
    line("time in steps / in validation", lambda r: f"{r['step_hours']:.2f} h / {r['validation_minutes']:.1f} min")
    line("start to test report", lambda r: f"{r['wall_hours']:.2f} h" + (f" ({r['resumes']} resume)" if r["resumes"] else ""))
