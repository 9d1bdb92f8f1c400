#!/usr/bin/env python3
"""Interop of ft-dist's LoRA/QLoRA checkpoints with transformers + peft:

    .venv-peer/bin/python bench/check_peft_adapter.py ADAPTER_CHECKPOINT [--merged MERGED_DIR]

- loads the base GGUF (models/gemma-3-270m-q4_k_m.gguf, fp32, as bench/peer_pytorch.py does)
  and `PeftModel.from_pretrained(base, ADAPTER_CHECKPOINT)` — unchanged, as ft-dist wrote it;
- scores the 77 intents of 8 messages by log P(" intent" <eos> | prompt), teacher-forced, with
  the run's prompt template (from trainer_state.json);
- runs `ft-dist predict --model ADAPTER_CHECKPOINT --top-k 77 --json` on the same messages and
  compares every log-probability (must agree within --tolerance, default 1e-3);
- with --merged: loads MERGED_DIR (from `ft-dist merge`) with transformers alone
  (`AutoModelForCausalLM.from_pretrained`) and compares it the same way.
Exit 1 when anything differs beyond the tolerance.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as pc  # noqa: E402

MESSAGES = [
    "My card still hasn't arrived, when will it come?",
    "I was charged twice for the same purchase",
    "How do I top up my account with a bank transfer?",
    "Someone stole my card, please block it",
    "Why was my transfer declined?",
    "What exchange rate do you use for euros?",
    "I forgot my PIN",
    "Can I get a refund for this item?",
]


def intent_log_probs(model, tok, torch, template: str, intents: list[str]) -> list[dict]:
    """Per message, log P(" intent" <eos> | prompt) of every intent: one batch of 77 sequences,
    right-padded (causal attention: padding after a sequence cannot change its logits)."""
    out = []
    targets = [pc.encode(tok, " " + name) + [pc.EOS] for name in intents]
    with torch.no_grad():
        for text in MESSAGES:
            prompt = [pc.BOS] + pc.encode(tok, template.replace("{text}", text))
            rows = [prompt + t for t in targets]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [pc.PAD] * (width - len(r)) for r in rows])
            logp = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
            scores = {}
            for k, (name, target) in enumerate(zip(intents, targets)):
                scores[name] = sum(logp[k, len(prompt) - 1 + i, t].item() for i, t in enumerate(target))
            out.append(scores)
    return out


def compare(name: str, ours: list[dict], theirs: list[dict], tolerance: float) -> bool:
    worst = 0.0
    for a, b in zip(ours, theirs):
        for k in a:
            worst = max(worst, abs(a[k] - b[k]))
    top_same = all(max(a, key=a.get) == max(b, key=b.get) for a, b in zip(ours, theirs))
    pc.log(f"[check] {name}: max |Δ log-probability| over {len(ours)} messages × {len(ours[0])} intents = {worst:.3e}; "
           f"best intent the same for every message: {top_same}")
    return worst <= tolerance and top_same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="an ft-dist LoRA/QLoRA checkpoint directory")
    ap.add_argument("--merged", default=None, help="the same checkpoint after `ft-dist merge`")
    ap.add_argument("--base", default=str(pc.DEFAULT_GGUF), help="the base GGUF")
    ap.add_argument("--ftdist", default=str(pc.ROOT / ".build/release/ft-dist"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import peft
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    ckpt = Path(args.checkpoint)
    state = json.loads((ckpt / "trainer_state.json").read_text()) if (ckpt / "trainer_state.json").is_file() else {}
    template = state.get("options", {}).get("promptTemplate", pc.PROMPT)
    data_dir = pc.find_data_dir(args.data)
    intents = json.loads((data_dir / "categories.json").read_text())
    tok = pc.load_tokenizer(Path(args.base).resolve())

    r = subprocess.run([args.ftdist, "predict", "--model", str(ckpt), "--data", str(data_dir), "--top-k", "77", "--json"]
                       + MESSAGES, capture_output=True, text=True)
    if r.returncode != 0:
        pc.log(f"[check] FAIL: ft-dist predict: {r.stderr.strip()}")
        return 1
    ftdist = [{e["intent"]: e["log_probability"] for e in json.loads(line)["ranking"]} for line in r.stdout.splitlines()]

    base, how = pc.load_model(Path(args.base).resolve(), attn="eager")
    model = peft.PeftModel.from_pretrained(base, str(ckpt))
    model.eval()
    pc.log(f"[check] peft {peft.__version__}: {type(model).__name__} over {type(base).__name__} (base via {how}); "
           f"{sum(p.numel() for n, p in model.named_parameters() if 'lora_' in n):,} adapter parameters")
    ok = compare("ft-dist predict vs transformers + peft", ftdist, intent_log_probs(model, tok, torch, template, intents),
                 args.tolerance)
    if args.merged:
        merged = AutoModelForCausalLM.from_pretrained(args.merged, dtype=torch.float32, attn_implementation="eager")
        merged.eval()
        ok &= compare("ft-dist predict vs the merged checkpoint in transformers", ftdist,
                      intent_log_probs(merged, tok, torch, template, intents), args.tolerance)
    pc.log("[check] OK" if ok else "[check] FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
