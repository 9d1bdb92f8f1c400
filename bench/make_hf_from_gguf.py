"""An HF model directory written by transformers from our GGUF: the input that
`ft-dist --model DIR` must read as transformers users have it.

Loads models/gemma-3-270m-q4_k_m.gguf with transformers (dequantized to fp32) and its
tokenizer, and writes both with save_pretrained: config.json, model.safetensors (or shards
with model.safetensors.index.json when --max-shard-size is given), tokenizer.json and
tokenizer_config.json.

Usage: python bench/make_hf_from_gguf.py OUT_DIR [--dtype float32|bfloat16|float16] [--max-shard-size 200MB]
"""
import argparse
from pathlib import Path

import sys

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as pc  # noqa: E402

root = Path(__file__).resolve().parent.parent
ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--gguf", default=str(root / "models/gemma-3-270m-q4_k_m.gguf"))
ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
ap.add_argument("--max-shard-size", default=None)
args = ap.parse_args()
gguf = Path(args.gguf)
model, _ = pc.load_model(gguf.resolve(), attn="eager")   # fp32, as the PyTorch peer loads it
tokenizer = pc.load_tokenizer(gguf.resolve())
model = model.to(getattr(torch, args.dtype))
kwargs = {"max_shard_size": args.max_shard_size} if args.max_shard_size else {}
model.save_pretrained(args.out, safe_serialization=True, **kwargs)
tokenizer.save_pretrained(args.out)
print(f"wrote {args.out}: {sorted(p.name for p in Path(args.out).iterdir())}")
