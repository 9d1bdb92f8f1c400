"""ft-dist's inference beside llama.cpp's on the same model and prompts, in one run.

Rounds are interleaved (each round runs every configuration once) and the table shows
medians. Uses the llama.cpp tools built by bench/build_llama_cpp.sh and a release build.

  single sequence — a 40-token prompt, then 64 greedy tokens:
    ft-dist generate --timing   on the F32 export (fp32 weights) and on the Q4_K_M file
                                (--weights quantized: its own blocks)
    llama-completion            on the same two files (--ignore-eos, -n 64)
    → prompt tokens/s and decode tokens/s
  batched — the Banking77 test prompts (the training template, greedy, stop at <eos>):
    ft-dist eval --limit N      at np=1 (2 BLAS threads) and np=2 (1 BLAS thread each), on a fine-tuned
                                checkpoint (--eval-model)
    llama-batched-bench         40-token prompts + 7 new tokens, 32 and 64 sequences in
                                parallel (the issue's like-for-like measure), F32
    → examples/s

Usage: python3 bench/inference_peer.py [--rounds 3] [--limit 640] [--eval-model CHECKPOINT]
                                       [--out runs/inference-peer] [--skip-batched]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

root = Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--limit", type=int, default=640, help="test examples per ft-dist eval run")
ap.add_argument("--out", default="runs/inference-peer")
ap.add_argument("--eval-model", help="a fine-tuned checkpoint for the ft-dist eval rows (default: the newest of "
                "runs/banking77); a pretrained model's free text stops at its first token and would time nothing")
ap.add_argument("--skip-batched", action="store_true")
args = ap.parse_args()

os.chdir(root)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
ftdist = root / ".build/release/ft-dist"
llama = root / "bench/llama.cpp/bin"
q4 = root / "models/gemma-3-270m-q4_k_m.gguf"
f32 = out / "base-f32.gguf"
for tool in [ftdist, llama / "llama-completion", llama / "llama-batched-bench"]:
    if not tool.exists():
        sys.exit(f"[inference-peer] {tool} missing: swift build -c release; bash bench/build_llama_cpp.sh")
if not f32.exists():
    subprocess.run([str(ftdist), "export", str(q4), "--type", "f32", "--output", str(f32)], check=True, capture_output=True)

# 40 tokens with <bos> (checked below from ft-dist's own count); a story, so nothing stops early
prompt = ("Once upon a time, in a small village by the sea, there lived an old fisherman who told "
          "the children stories every evening. One of those stories, his very favourite, went like this:")
new_tokens = 64
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def ftdist_generate(model, weights):
    r = subprocess.run([str(ftdist), "generate", "--model", str(model), "--weights", weights, "--prompt", prompt,
                        "--max-new-tokens", str(new_tokens), "--timing"], capture_output=True, text=True, check=True)
    m = re.search(r"prompt of (\d+) tokens in ([\d.]+) s .*?; (\d+) more tokens in ([\d.]+) s", r.stderr)
    if not m:
        sys.exit(f"[inference-peer] no timing in: {r.stderr}")
    ptok, psec, ntok, nsec = int(m[1]), float(m[2]), int(m[3]), float(m[4])
    if ntok < new_tokens - 1:
        sys.exit(f"[inference-peer] ft-dist stopped after {ntok + 1} tokens: choose a longer-running prompt")
    # the prompt time includes choosing the first token (as llama.cpp's prompt eval does)
    return {"prompt_tokens": ptok, "prompt_tps": ptok / psec, "decode_tps": ntok / nsec}


def llama_completion(model):
    r = subprocess.run([str(llama / "llama-completion"), "-m", str(model), "-p", prompt, "-n", str(new_tokens),
                        "--temp", "0", "--ignore-eos", "-no-cnv", "--no-display-prompt", "-t", "2", "-s", "0"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"[inference-peer] llama-completion failed: {r.stderr[-400:]}")
    p = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", r.stderr)
    e = re.search(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs", r.stderr.split("prompt eval time")[1])
    return {"prompt_tokens": int(p[2]), "prompt_tps": int(p[2]) / float(p[1]) * 1000, "decode_tps": int(e[2]) / float(e[1]) * 1000}


def newest_checkpoint():
    found = sorted((root / "runs/banking77").glob("checkpoint-*"))
    if not found:
        sys.exit("[inference-peer] no checkpoint in runs/banking77: pass --eval-model (a fine-tuned checkpoint)")
    return found[-1]


eval_model = Path(args.eval_model) if args.eval_model else (None if args.skip_batched else newest_checkpoint())


def ftdist_eval(ranks):
    cmd = [str(ftdist), "eval", "--model", str(eval_model), "--limit", str(args.limit), "--output", str(out / f"eval-np{ranks}")]
    if ranks > 1:
        cmd = ["launch/local.sh", str(ranks)] + cmd[1:]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"[inference-peer] eval failed: {r.stderr[-600:]}")
    m = re.search(r"(\d+) examples in (\d+) s \(([\d.]+) examples/s\)", r.stderr)
    return {"examples_per_s": float(m[3]), "wall_s": time.time() - t0}


def llama_batched(parallel):
    r = subprocess.run([str(llama / "llama-batched-bench"), "-m", str(f32), "-c", str(parallel * 48), "-b", "2048", "-ub", "512",
                        "-npp", "40", "-ntg", "7", "-npl", str(parallel), "-t", "2"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"[inference-peer] llama-batched-bench failed: {r.stderr[-400:]}")
    # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    rows = [l for l in r.stdout.splitlines() if l.startswith("|") and re.match(r"\|\s*40\s*\|", l)]
    cols = [c.strip() for c in rows[-1].strip("|").split("|")]
    return {"examples_per_s": parallel / float(cols[8])}


configs = {
    "ft-dist fp32 (F32 export)": lambda: ftdist_generate(f32, "fp32"),
    "llama.cpp F32": lambda: llama_completion(f32),
    "ft-dist quantized (Q4_K_M file)": lambda: ftdist_generate(q4, "quantized"),
    "llama.cpp Q4_K_M": lambda: llama_completion(q4),
}
batched = {} if args.skip_batched else {
    "ft-dist eval np=1 (2 BLAS threads)": lambda: ftdist_eval(1),
    "ft-dist eval np=2 (1 BLAS thread each)": lambda: ftdist_eval(2),
    "llama-batched-bench F32, 32 parallel": lambda: llama_batched(32),
    "llama-batched-bench F32, 64 parallel": lambda: llama_batched(64),
}
results = {name: [] for name in list(configs) + list(batched)}
for rnd in range(1, args.rounds + 1):
    for name, run in list(configs.items()) + list(batched.items()):
        print(f"[inference-peer] round {rnd}/{args.rounds}: {name}", file=sys.stderr, flush=True)
        results[name].append(run())

med = lambda name, key: statistics.median(r[key] for r in results[name])
summary = {"rounds": args.rounds, "limit": args.limit, "results": results}
print(f"\nsingle sequence, {new_tokens} new tokens, medians of {args.rounds} interleaved rounds")
print(f"| | prompt tokens | prompt tokens/s | decode tokens/s |")
print(f"|---|---|---|---|")
for name in configs:
    print(f"| {name} | {results[name][0]['prompt_tokens']} | {med(name, 'prompt_tps'):.0f} | {med(name, 'decode_tps'):.1f} |")
ratios = {
    "decode fp32 / llama.cpp F32": med("ft-dist fp32 (F32 export)", "decode_tps") / med("llama.cpp F32", "decode_tps"),
    "decode quantized / llama.cpp Q4_K_M": med("ft-dist quantized (Q4_K_M file)", "decode_tps") / med("llama.cpp Q4_K_M", "decode_tps"),
    "prompt fp32 / llama.cpp F32": med("ft-dist fp32 (F32 export)", "prompt_tps") / med("llama.cpp F32", "prompt_tps"),
    "prompt quantized / llama.cpp Q4_K_M": med("ft-dist quantized (Q4_K_M file)", "prompt_tps") / med("llama.cpp Q4_K_M", "prompt_tps"),
}
if batched:
    print(f"\nbatched, examples/s (ft-dist: {args.limit} Banking77 test prompts on {eval_model}; llama.cpp: 40 + 7 tokens each)")
    print("| | examples/s |")
    print("|---|---|")
    for name in batched:
        print(f"| {name} | {med(name, 'examples_per_s'):.2f} |")
    best_llama = max(med(n, "examples_per_s") for n in batched if n.startswith("llama"))
    ratios["eval np=2 / best llama-batched-bench"] = med("ft-dist eval np=2 (1 BLAS thread each)", "examples_per_s") / best_llama
    ratios["eval np=1 / best llama-batched-bench"] = med("ft-dist eval np=1 (2 BLAS threads)", "examples_per_s") / best_llama
print("\nratios (≥ 1: ft-dist faster)")
for k, v in ratios.items():
    print(f"  {k}: {v:.2f}×")
summary["ratios"] = ratios
(out / "summary.json").write_text(json.dumps(summary, indent=1))
