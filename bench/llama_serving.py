"""The fine-tuned model served by llama.cpp, beside ft-dist's own greedy evaluation.

For N test prompts spread over the test split (every len/N-th row), runs llama-completion
(greedy: --temp 0, stops at <eos>, the training prompt template, <bos> added by llama.cpp) on
each given GGUF configuration, then reports how often the configurations agree with each other
and with ft-dist's own predictions (the run's eval-test/predictions.jsonl), and their accuracy.

Usage: python bench/llama_serving.py --run runs/lora --n 200 --out OUT.json \
           NAME=MODEL.gguf[+ADAPTER.gguf] ...
e.g.   lora=models/gemma-3-270m-q4_k_m.gguf+lora.gguf merged=merged-f32.gguf
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

root = Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True, help="run directory with eval-test/predictions.jsonl")
ap.add_argument("--n", type=int, default=200)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--out")
ap.add_argument("configs", nargs="+")
args = ap.parse_args()

binary = root / "bench/llama.cpp/bin/llama-completion"
template = "Classify the banking customer message into one of 77 intents.\nMessage: {text}\nIntent:"
config = json.loads((Path(args.run) / "run_config.json").read_text()) if (Path(args.run) / "run_config.json").exists() else {}
template = config.get("options", {}).get("promptTemplate", template)
rows = [json.loads(line) for line in open(Path(args.run) / "eval-test/predictions.jsonl")]
step = max(1, len(rows) // args.n)
rows = rows[::step][: args.n]
configs = dict(c.split("=", 1) for c in args.configs)


def complete(model: str, prompt: str) -> str:
    cmd = [str(binary), "-p", prompt, "-n", "16", "--temp", "0", "-no-cnv", "--no-display-prompt",
           "-t", str(args.threads), "--no-warmup", "-s", "0"]
    base, _, adapter = model.partition("+")
    cmd += ["-m", base] + (["--lora", adapter] if adapter else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"llama-completion failed on {model}: {out.stderr[-400:]}")
    return out.stdout.replace("[end of text]", "").rstrip("\n")


outputs = {name: [] for name in configs}
t0 = time.time()
for i, row in enumerate(rows):
    prompt = template.replace("{text}", row["text"])
    for name, model in configs.items():
        outputs[name].append(complete(model, prompt))
    if (i + 1) % 20 == 0:
        print(f"[serving] {i + 1}/{len(rows)} prompts ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)

ours = [r["generated"] for r in rows]
gold = [r["gold"] for r in rows]
report = {"prompts": len(rows), "configs": configs, "ft_dist_accuracy": sum(o.strip() == g for o, g in zip(ours, gold)) / len(rows)}
names = list(configs)
for name in names:
    o = outputs[name]
    report[name] = {"accuracy": sum(x.strip() == g for x, g in zip(o, gold)) / len(rows),
                    "same_as_ft_dist": sum(x.strip() == y.strip() for x, y in zip(o, ours)),
                    "differs_from_ft_dist": [{"text": r["text"], "llama.cpp": x, "ft-dist": y}
                                             for r, x, y in zip(rows, o, ours) if x.strip() != y.strip()][:10]}
for a in range(len(names)):
    for b in range(a + 1, len(names)):
        same = sum(x == y for x, y in zip(outputs[names[a]], outputs[names[b]]))
        report[f"{names[a]} vs {names[b]}"] = same
        print(f"{names[a]} vs {names[b]}: {same}/{len(rows)} identical greedy outputs")
for name in names:
    r = report[name]
    print(f"{name}: accuracy {100 * r['accuracy']:.1f}%, same output as ft-dist eval on {r['same_as_ft_dist']}/{len(rows)}")
print(f"ft-dist eval on the same prompts: accuracy {100 * report['ft_dist_accuracy']:.1f}%")
if args.out:
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
