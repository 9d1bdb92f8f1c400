#!/usr/bin/env python3
"""PyTorch peer benchmark: the same training steps as `ft-dist train`, through PyTorch +
transformers, fp32, on CPU, as a typical PyTorch user writes them.

Model: Gemma 3 270M dequantized to fp32 from models/gemma-3-270m-q4_k_m.gguf.
Data:  Banking77 train.csv; prompt/target per docs/DESIGN.md, "Data"; global batches of 16 in the
       order of random.Random(42).shuffle(range(10003)); steps 1..K.
Step:  right-padded batch + attention mask -> full logits -> sum of token CE over the label
       tokens / number of label tokens -> backward -> clip_grad_norm_(1.0) -> AdamW(5e-5,
       (0.9, 0.999), 1e-8, wd 0) -> cosine schedule over 1878 steps.
Timed: forward + backward + clip + optimizer + scheduler (not tokenization / batch build).

--method lora: the same with peft — LoraConfig(r 16, alpha 32, dropout 0, the seven
projections), AdamW over the adapters at lr 2e-4; --lora-init ftdist starts from exactly the
adapter ft-dist initialises from --seed 42 (peft_common.ftdist_lora_a), --write-fixture FILE
records the steps' losses and grad norms (the parity fixture of ft-dist's LoRA tests).

Run with the venv from bench/setup_peer.sh:
    .venv-peer/bin/python bench/peer_pytorch.py --steps 12 --threads 2 [--json FILE]
    .venv-peer/bin/python bench/peer_pytorch.py --method lora --steps 12 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as pc  # noqa: E402


def build_examples(tok, rows, indices):
    """input_ids = [bos] + tok(prompt) + tok(" " + label) + [eos]; labels -100 on the prompt."""
    out = []
    for i in indices:
        text, label = rows[i]
        p = pc.encode(tok, pc.PROMPT.format(text=text))
        t = pc.encode(tok, " " + label) + [pc.EOS]
        ids = [pc.BOS] + p + t
        labels = [-100] * (1 + len(p)) + t
        out.append((ids, labels))
    return out


def collate(examples, torch):
    """Right padding to the longest sequence, attention mask, -100 on padding."""
    T = max(len(ids) for ids, _ in examples)
    n = len(examples)
    input_ids = torch.full((n, T), pc.PAD, dtype=torch.long)
    labels = torch.full((n, T), -100, dtype=torch.long)
    mask = torch.zeros((n, T), dtype=torch.long)
    for r, (ids, lab) in enumerate(examples):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        labels[r, : len(lab)] = torch.tensor(lab)
        mask[r, : len(ids)] = 1
    return input_ids, labels, mask


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4, help="training steps to run (default 4)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--model", default=str(pc.DEFAULT_GGUF), help="GGUF file")
    ap.add_argument("--data", default=None, help="directory with train.csv (default data/banking77, "
                    "else ../shared/data/banking77)")
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"],
                    help="attention implementation (default sdpa: measured faster on CPU)")
    ap.add_argument("--loader", default="auto", choices=["auto", "transformers", "gguf"],
                    help="auto: transformers' GGUF loader, falling back to the gguf package")
    ap.add_argument("--reference", default=str(pc.REFERENCE / "train_trajectory.json"))
    ap.add_argument("--no-tokenizer-check", action="store_true",
                    help="skip comparing the tokenizer with all rows of tokenizer_vectors.jsonl")
    ap.add_argument("--json", default=None, help="also write the summary JSON to this file")
    ap.add_argument("--method", default="full", choices=["full", "lora"], help="full fine-tuning or peft LoRA")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.0, help="0 for timing and parity (ft-dist's masks differ from torch's)")
    ap.add_argument("--lora-init", default="ftdist", choices=["ftdist", "peft"],
                    help="ftdist: ft-dist's initial adapter for --seed 42; peft: peft's own random init")
    ap.add_argument("--lr", type=float, default=None, help="default 5e-5 (full), 2e-4 (lora)")
    ap.add_argument("--write-fixture", default=None, help="write the steps' loss/grad norm/lr as a small JSON fixture")
    args = ap.parse_args()

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gguf_path = Path(args.model).resolve()

    pc.log(f"[peer] torch {torch.__version__}, transformers {transformers.__version__}, "
           f"threads {torch.get_num_threads()}, attn {args.attn}")

    t0 = time.perf_counter()
    model, loader = pc.load_model(gguf_path, attn=args.attn,
                                  loader="gguf-package" if args.loader == "gguf" else args.loader)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    pc.log(f"[peer] model loaded via {loader} in {time.perf_counter() - t0:.1f} s: "
           f"{type(model).__name__}, {n_params:,} parameters, dtype {next(model.parameters()).dtype}")
    assert n_params == 268_098_176, n_params
    if args.method == "lora":
        import peft

        cfg = peft.LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                              target_modules=pc.LORA_TARGETS, bias="none", task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, cfg)
        if args.lora_init == "ftdist":
            with torch.no_grad():
                index = 0
                for layer in range(model.base_model.model.config.num_hidden_layers):
                    for target in pc.LORA_TARGETS:
                        parent = "self_attn" if target in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
                        module = getattr(getattr(model.base_model.model.model.layers[layer], parent), target)
                        a = module.lora_A["default"].weight
                        a.copy_(torch.from_numpy(pc.ftdist_lora_a(42, index, a.shape[0], a.shape[1])))
                        module.lora_B["default"].weight.zero_()
                        index += 2
        model.train()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        pc.log(f"[peer] peft {peft.__version__} LoRA r {args.lora_rank} alpha {args.lora_alpha} dropout {args.lora_dropout}, "
               f"init {args.lora_init}: {trainable:,} trainable parameters")

    t0 = time.perf_counter()
    tok = pc.load_tokenizer(gguf_path)
    pc.log(f"[peer] tokenizer {type(tok).__name__} built from the GGUF in {time.perf_counter() - t0:.1f} s")

    probe = "Classify the banking customer message into one of 77 intents.\nMessage: hi\nIntent:"
    pc.log(f"[peer] tok(probe prompt 'hi') = {pc.encode(tok, probe)}")
    tok_report = None
    if not args.no_tokenizer_check:
        tok_report = pc.check_tokenizer(tok)
        n = tok_report["rows"]
        if n == 0:
            pc.log("[peer] tokenizer fixture not found: not checked")
        elif tok_report["mismatches"] == 0:
            pc.log(f"[peer] tokenizer (split_special_tokens=True): all {n} rows of tokenizer_vectors.jsonl match `ids`")
        else:
            pc.log(f"[peer] TOKENIZER MISMATCH on {tok_report['mismatches']}/{n} fixture rows; first: "
                   f"{json.dumps(tok_report['first'], ensure_ascii=False)}")
        if n:
            pc.log(f"[peer] tokenizer, transformers default (control tokens parsed) vs `ids_parse_special`"
                   f" (else `ids`): {tok_report['default_mode_mismatches']} mismatches")

    data_dir = pc.find_data_dir(args.data)
    rows = pc.read_csv(data_dir / "train.csv")
    assert len(rows) == 10003, len(rows)
    order = pc.epoch_order(len(rows))

    ref = None
    if args.reference and Path(args.reference).is_file():
        ref = {s["step"]: s for s in json.loads(Path(args.reference).read_text())["steps"]}

    params = [p for p in model.parameters() if p.requires_grad]
    lr0 = args.lr if args.lr is not None else (5e-5 if args.method == "full" else 2e-4)
    opt = torch.optim.AdamW(params, lr=lr0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = transformers.get_cosine_schedule_with_warmup(opt, 0, pc.TOTAL_STEPS)

    results = []
    for step in range(1, args.steps + 1):
        idx = order[(step - 1) * pc.GLOBAL_BATCH: step * pc.GLOBAL_BATCH]  # steps <= 625: within epoch 1
        if ref and step in ref:
            assert idx == ref[step]["indices"], f"step {step}: batch indices differ from the fixture"
        examples = build_examples(tok, rows, idx)
        input_ids, labels, mask = collate(examples, torch)
        n_tokens = int(mask.sum())
        n_label = int((labels != -100).sum())
        lr = sched.get_last_lr()[0]

        c0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=input_ids, attention_mask=mask).logits  # [B, T, V]
        shift_logits = logits[:, :-1, :].reshape(-1, logits.size(-1))
        shift_labels = labels[:, 1:].reshape(-1)
        loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100,
                                                 reduction="sum") / n_label
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        t3 = time.perf_counter()
        dt = t3 - t0
        cpu = time.process_time() - c0

        rec = {"step": step, "loss": loss.item(), "grad_norm": gnorm.item(), "lr": lr, "seconds": dt,
               "forward_seconds": t1 - t0, "backward_seconds": t2 - t1, "optimizer_seconds": t3 - t2,
               "cpu_seconds": cpu, "loadavg_1min": os.getloadavg()[0],
               "tokens": n_tokens, "label_tokens": n_label, "padded_shape": list(input_ids.shape)}
        results.append(rec)
        pc.log(f"[peer] step {step}: loss {rec['loss']:.6f}  grad_norm {rec['grad_norm']:.4f}  "
               f"lr {lr:.6e}  {dt:.2f} s [fwd {t1 - t0:.2f} bwd {t2 - t1:.2f} opt {t3 - t2:.2f}; "
               f"cpu {cpu:.1f} s = {cpu / dt:.2f} cores; load {os.getloadavg()[0]:.1f}]  (batch {input_ids.shape[0]}x{input_ids.shape[1]}, "
               f"{n_tokens} tokens, {n_label} label tokens)")
        del logits, shift_logits, loss

    timed = [r["seconds"] for r in results[1:]] or [r["seconds"] for r in results]
    median = statistics.median(timed)
    pc.log(f"[peer] median step seconds (steps 2..{args.steps}): {median:.3f}  "
           f"(min {min(timed):.3f}, max {max(timed):.3f}); "
           f"3-epoch recipe ({pc.TOTAL_STEPS} steps) ≈ {median * pc.TOTAL_STEPS / 3600:.2f} h")

    parity = []
    if ref and args.method == "full":
        pc.log("[peer] parity with reference/train_trajectory.json (relative differences):")
        for r in results:
            s = ref.get(r["step"])
            if not s:
                continue
            d = {"step": r["step"]}
            for k in ("loss", "grad_norm", "lr"):
                d[k] = abs(r[k] - s[k]) / abs(s[k])
            for k in ("tokens", "label_tokens"):
                if k in s:
                    d[k + "_equal"] = r[k] == s[k]
            parity.append(d)
            pc.log(f"[peer]   step {r['step']}: loss {r['loss']:.6f} vs {s['loss']:.6f} (rel {d['loss']:.2e})  "
                   f"grad_norm {r['grad_norm']:.4f} vs {s['grad_norm']:.4f} (rel {d['grad_norm']:.2e})  "
                   f"lr rel {d['lr']:.2e}  tokens/label_tokens equal: "
                   f"{d.get('tokens_equal')}/{d.get('label_tokens_equal')}")

    if args.write_fixture:
        fixture = {"made_by": "bench/peer_pytorch.py " + " ".join(sys.argv[1:]), "torch": torch.__version__,
                   "transformers": transformers.__version__, "method": args.method, "lora_rank": args.lora_rank,
                   "lora_alpha": args.lora_alpha, "lora_dropout": args.lora_dropout, "lora_init": args.lora_init,
                   "lr": lr0, "steps": [{k: r[k] for k in ("step", "loss", "grad_norm", "lr", "tokens", "label_tokens")}
                                        for r in results]}
        Path(args.write_fixture).write_text(json.dumps(fixture, indent=1) + "\n")
        pc.log(f"[peer] fixture written to {args.write_fixture}")

    summary = {
        "peer": "pytorch" if args.method == "full" else "pytorch+peft",
        "method": args.method,
        "threads": args.threads,
        "median_step_seconds": median,
        "steps": results,
        "attn_implementation": args.attn,
        "loader": loader,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizer_check": tok_report,
        "parity": parity,
    }
    line = json.dumps(summary)
    print(line, flush=True)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
