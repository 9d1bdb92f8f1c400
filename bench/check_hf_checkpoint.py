#!/usr/bin/env python3
"""Loads an HF-format checkpoint directory (model.safetensors + config.json, as ft-dist
writes them, docs/DESIGN.md, "Checkpoints and evaluation") with transformers and checks it.

    .venv-peer/bin/python bench/check_hf_checkpoint.py CHECKPOINT_DIR [--compare-gguf [GGUF]]
    .venv-peer/bin/python bench/check_hf_checkpoint.py /tmp/hf-ref --write-from-gguf

- always: `AutoModelForCausalLM.from_pretrained(dir, dtype=float32)` must give a
  Gemma3ForCausalLM with every tensor loaded (none missing, none unexpected, none
  randomly initialised); prints the config, and the top-5 next-token logits at every
  position of the prompt ids [2, 818, 5279, 529, 7001, 563] (`<bos>The capital of France is`),
  and, for a pretrained checkpoint, the difference to reference/forward_logits.json.
- --compare-gguf: loads the GGUF (default models/gemma-3-270m-q4_k_m.gguf) in fp32 the
  same way as bench/peer_pytorch.py and prints the max |diff| of every tensor, and of the
  logits. For an untrained export every diff must be 0 (exit 1 otherwise; with
  --tolerance X, any diff > X fails). For a trained checkpoint the diffs show how far
  training moved each tensor (use --no-fail).
- --ftdist-logits [FT_DIST]: runs `ft-dist generate --model CHECKPOINT_DIR --logits-output` on
  the 4 reference prompts and compares every logit at every position with transformers'
  (max |diff| ≤ --logits-tolerance, default 1e-4).
- --write-from-gguf: first writes CHECKPOINT_DIR from the GGUF-loaded model with
  `save_pretrained(safe_serialization=True)` — the reference directory that ft-dist's
  checkpoints should look like (config: bench/reference_config.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as pc  # noqa: E402

PROMPT_IDS = [2, 818, 5279, 529, 7001, 563]


def top5_report(model, torch, tok=None):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([PROMPT_IDS])).logits[0].float()
    for pos in range(logits.shape[0]):
        v, i = torch.topk(logits[pos], 5)
        lse = torch.logsumexp(logits[pos], 0).item()
        items = ", ".join(f"{int(a)}:{b:.4f}" for a, b in zip(i.tolist(), v.tolist()))
        pc.log(f"  pos {pos} (id {PROMPT_IDS[pos]}): logsumexp {lse:.4f}  top5 {items}")
    return logits


def compare_fixture(logits):
    f = pc.REFERENCE / "forward_logits.json"
    if not f.is_file():
        return None
    for p in json.loads(f.read_text()):
        if p["ids"] != PROMPT_IDS:
            continue
        worst = 0.0
        top1_same = True
        for q in p["positions"]:
            row = logits[q["pos"]]
            for i, l in zip(q["top_ids"], q["top_logits"]):
                worst = max(worst, abs(row[i].item() - l))
            top1_same &= int(row.argmax()) == q["top_ids"][0]
        return worst, top1_same
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="directory with model.safetensors + config.json")
    ap.add_argument("--compare-gguf", nargs="?", const=str(pc.DEFAULT_GGUF), default=None, metavar="GGUF")
    ap.add_argument("--write-from-gguf", nargs="?", const=str(pc.DEFAULT_GGUF), default=None, metavar="GGUF",
                    help="write CHECKPOINT_DIR from the GGUF first (save_pretrained, safetensors)")
    ap.add_argument("--tolerance", type=float, default=0.0, help="max |diff| allowed per tensor (default 0)")
    ap.add_argument("--no-fail", action="store_true", help="report weight diffs without failing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ftdist-logits", nargs="?", const=str(Path(__file__).resolve().parent.parent / ".build/release/ft-dist"),
                    default=None, metavar="FT_DIST",
                    help="also compare every logit at every position of the 4 reference prompts with ft-dist's own "
                         "(`ft-dist generate --model CHECKPOINT --logits-output`); fails above --logits-tolerance")
    ap.add_argument("--logits-tolerance", type=float, default=1e-4)
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    ckpt = Path(args.checkpoint)
    ok = True

    gguf_model = None
    if args.write_from_gguf:
        gguf_model, how = pc.load_model(Path(args.write_from_gguf).resolve(), attn="eager")
        ckpt.mkdir(parents=True, exist_ok=True)
        gguf_model.save_pretrained(str(ckpt), safe_serialization=True)
        pc.log(f"[check] wrote {ckpt} from {args.write_from_gguf} (loaded via {how}): "
               f"{sorted(p.name for p in ckpt.iterdir())}")

    for name in ("config.json", "model.safetensors"):
        if not (ckpt / name).is_file():
            pc.log(f"[check] FAIL: {ckpt / name} missing")
            return 1

    from safetensors import safe_open
    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        st_keys = list(f.keys())
        st_meta = f.metadata()
        dtypes = {f.get_slice(k).get_dtype() for k in st_keys}
    pc.log(f"[check] model.safetensors: {len(st_keys)} tensors, dtypes {sorted(dtypes)}, metadata {st_meta}")

    model, info = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32, attn_implementation="eager",
                                                       output_loading_info=True)
    model.eval()
    pc.log(f"[check] transformers {transformers.__version__}: {type(model).__name__}, "
           f"model_type {model.config.model_type}, "
           f"{sum(p.numel() for p in model.parameters()):,} parameters, dtype {next(model.parameters()).dtype}")
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        v = info.get(k)
        if v:
            pc.log(f"[check] FAIL: {k}: {list(v)[:10]}")
            ok = False
    if type(model).__name__ != "Gemma3ForCausalLM":
        pc.log("[check] FAIL: expected Gemma3ForCausalLM")
        ok = False
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        pc.log("[check] note: lm_head is not tied to embed_tokens")

    pc.log(f"[check] top-5 next-token logits for ids {PROMPT_IDS}:")
    logits = top5_report(model, torch)
    fx = compare_fixture(logits)
    if fx:
        pc.log(f"[check] vs reference/forward_logits.json (pretrained weights): max |logit diff| on the "
               f"fixture's top-16 ids {fx[0]:.3e}, top-1 equal at every position: {fx[1]}")

    if args.compare_gguf:
        if gguf_model is None:
            gguf_model, how = pc.load_model(Path(args.compare_gguf).resolve(), attn="eager")
        gguf_model.eval()
        ref_sd = gguf_model.state_dict()
        sd = model.state_dict()
        worst = ("", 0.0)
        pc.log(f"[check] per-tensor max |diff| vs the GGUF-loaded model:")
        for k in sorted(set(ref_sd) | set(sd)):
            if k not in sd or k not in ref_sd:
                pc.log(f"  {k}: only in {'GGUF' if k in ref_sd else 'checkpoint'}")
                ok = False
                continue
            a, b = sd[k], ref_sd[k]
            if a.shape != b.shape:
                pc.log(f"  {k}: shape {tuple(a.shape)} vs GGUF {tuple(b.shape)}")
                ok = False
                continue
            d = (a.float() - b.float()).abs().max().item()
            pc.log(f"  {k} {tuple(a.shape)}: {d:.3e}")
            if d > worst[1]:
                worst = (k, d)
            if d > args.tolerance and not args.no_fail:
                ok = False
        pc.log(f"[check] largest tensor diff: {worst[1]:.3e} ({worst[0] or '-'}); {len(sd)} tensors compared")
        with torch.no_grad():
            ref_logits = gguf_model(input_ids=torch.tensor([PROMPT_IDS])).logits[0].float()
        pc.log(f"[check] max |logit diff| vs GGUF model on the prompt: {(ref_logits - logits).abs().max().item():.3e}")

    if args.ftdist_logits:
        import subprocess
        import tempfile
        import numpy as np
        prompts = json.loads((pc.REFERENCE / "forward_logits.json").read_text())
        worst = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for p in prompts:
                out = Path(tmp) / "logits.f32"
                r = subprocess.run([args.ftdist_logits, "generate", "--model", str(ckpt), "--prompt", p["text"],
                                    "--logits-output", str(out)], capture_output=True, text=True)
                if r.returncode != 0:
                    pc.log(f"[check] FAIL: ft-dist generate --logits-output: {r.stderr.strip()[-300:]}")
                    ok = False
                    break
                ids = [int(x) for x in r.stdout.split()]
                ours = np.fromfile(out, dtype="<f4").reshape(len(ids), -1)
                with torch.no_grad():
                    theirs = model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
                d = float(np.abs(ours - theirs).max())
                worst = max(worst, d)
                pc.log(f"[check] {p['text']!r}: ids {ids}, max |ft-dist − transformers| over all {ours.size:,} logits {d:.3e}")
        pc.log(f"[check] logits vs ft-dist: max |diff| {worst:.3e} (tolerance {args.logits_tolerance})")
        if worst > args.logits_tolerance:
            ok = False

    pc.log("[check] OK" if ok else "[check] FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
