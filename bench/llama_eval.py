"""llama.cpp evaluates the whole test split on exported GGUFs, beside ft-dist's own evaluation.

For each MODEL.gguf: starts llama-server (bench/llama.cpp/bin, one process that keeps the
model loaded; continuous batching over --parallel slots), sends every test prompt of a run's
eval-test/predictions.jsonl (the training template, greedy: temperature 0, top-k 1, up to 16
tokens, stops at <eos>; llama.cpp adds <bos>), and compares the intent of each answer with
ft-dist's: the same intent name, or both not an intent. Prints, per model, the share of
prompts with ft-dist's intent and the test accuracy.

Usage: python bench/llama_eval.py --run runs/lora [--parallel 8] [--limit N] [--out OUT.json] NAME=MODEL.gguf ...
"""
import argparse
import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

root = Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--run", required=True)
ap.add_argument("--parallel", type=int, default=8)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--port", type=int, default=8089)
ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--out")
ap.add_argument("models", nargs="+")
args = ap.parse_args()

run = Path(args.run)
template = "Classify the banking customer message into one of 77 intents.\nMessage: {text}\nIntent:"
if (run / "run_config.json").exists():
    template = json.loads((run / "run_config.json").read_text()).get("options", {}).get("promptTemplate", template)
rows = [json.loads(line) for line in open(run / "eval-test/predictions.jsonl")]
if args.limit:
    rows = rows[: args.limit]
intents = set(json.loads((root / "data/banking77/categories.json").read_text()))


def intent(text: str) -> str:
    t = text.strip()
    return t if t in intents else "(invalid)"


def post(prompt: str) -> str:
    body = json.dumps({"prompt": prompt, "n_predict": 16, "temperature": 0, "top_k": 1, "cache_prompt": True}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{args.port}/completion", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())["content"]


report = {"run": str(run), "prompts": len(rows), "ft_dist_accuracy": sum(intent(r["generated"]) == r["gold"] for r in rows) / len(rows)}
for spec in args.models:
    name, model = spec.split("=", 1)
    server = subprocess.Popen([str(root / "bench/llama.cpp/bin/llama-server"), "-m", model, "-t", str(args.threads),
                               "--parallel", str(args.parallel), "-c", str(512 * args.parallel), "--host", "127.0.0.1",
                               "--port", str(args.port), "--no-webui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:  # noqa: BLE001
                time.sleep(0.5)
        t0 = time.time()
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            outputs = list(pool.map(post, [template.replace("{text}", r["text"]) for r in rows]))
        seconds = time.time() - t0
    finally:
        server.terminate()
        server.wait()
    same = sum(intent(o) == intent(r["generated"]) for o, r in zip(outputs, rows))
    correct = sum(intent(o) == r["gold"] for o, r in zip(outputs, rows))
    report[name] = {"model": model, "same_intent_as_ft_dist": same / len(rows), "accuracy": correct / len(rows),
                    "invalid": sum(intent(o) == "(invalid)" for o in outputs), "seconds": seconds,
                    "differs": [{"text": r["text"], "llama.cpp": o, "ft-dist": r["generated"]}
                                for o, r in zip(outputs, rows) if intent(o) != intent(r["generated"])][:20]}
    print(f"{name}: same intent as ft-dist eval on {same}/{len(rows)} ({100 * same / len(rows):.2f}%), "
          f"test accuracy {100 * correct / len(rows):.2f}%, {seconds:.0f} s", flush=True)
print(f"ft-dist eval: test accuracy {100 * report['ft_dist_accuracy']:.2f}%")
if args.out:
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
