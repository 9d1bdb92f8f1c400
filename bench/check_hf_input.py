"""ft-dist reading an HF directory that transformers wrote (bench/make_hf_from_gguf.py) vs
reading the GGUF it came from:
- the tokenizer (tokenizer.json here): `ft-dist tokenize --jsonl --model DIR` vs `--model GGUF`
  on the reference strings and every Banking77 text;
- training: the same 4 recipe steps (`ft-dist train --max-steps 4`) from each; the worst
  relative difference of the per-step losses.

Usage: python bench/check_hf_input.py HF_DIR [--gguf models/gemma-3-270m-q4_k_m.gguf] [--steps 4] [--out OUT.json]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as pc  # noqa: E402

root = Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("hf_dir")
ap.add_argument("--gguf", default=str(root / "models/gemma-3-270m-q4_k_m.gguf"))
ap.add_argument("--bin", default=str(root / ".build/release/ft-dist"))
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--out")
args = ap.parse_args()

texts = pc.tokenizer_texts()
a, b = pc.ftdist_tokenize(args.bin, texts, args.hf_dir), pc.ftdist_tokenize(args.bin, texts, args.gguf)
same = pc.report_token_agreement(texts, a, b, f"tokenizer of {args.hf_dir}: {{same}}/{{total}} texts tokenized as the GGUF's tokenizer does")

losses = {}
work = Path(tempfile.mkdtemp(prefix="hf-input-"))
for name, model in (("gguf", args.gguf), ("hf", args.hf_dir)):
    run = work / name
    subprocess.run([args.bin, "train", "--model", model, "--max-steps", str(args.steps), "--save-steps", "0", "--no-final-eval",
                    "--output", str(run)], check=True, capture_output=True, text=True)
    losses[name] = [json.loads(l)["loss"] for l in open(run / "metrics.jsonl")]
shutil.rmtree(work)
worst = max(abs(x - y) / abs(x) for x, y in zip(losses["gguf"], losses["hf"]))
print(f"{args.steps} recipe steps: losses from the GGUF {losses['gguf']}")
print(f"{args.steps} recipe steps: losses from {args.hf_dir} {losses['hf']}")
print(f"worst relative loss difference: {worst:.3g}")
if args.out:
    Path(args.out).write_text(json.dumps({"texts": len(texts), "same_tokens": same, "losses": losses, "worst_relative": worst}, indent=1) + "\n")
sys.exit(0 if same == len(texts) and worst <= 1e-6 else 1)
