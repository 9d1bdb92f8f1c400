"""Shared helpers for the PyTorch peer scripts (bench/peer_pytorch.py, bench/check_hf_checkpoint.py).

Loads Gemma 3 270M in fp32 from the project's GGUF, either through transformers' own GGUF
path (`from_pretrained(dir, gguf_file=...)`, which dequantizes every tensor and subtracts 1
from the norm weights) or, as a fallback / cross-check, through the `gguf` package
(`GGUFReader` + `gguf.quants.dequantize`) into a `Gemma3ForCausalLM` built from a
`Gemma3TextConfig` (docs/DESIGN.md, "The model").
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GGUF = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"

PROMPT = "Classify the banking customer message into one of 77 intents.\nMessage: {text}\nIntent:"
BOS, EOS, PAD = 2, 1, 0
GLOBAL_BATCH = 16
SEED = 42
TOTAL_STEPS = 1878  # 3 epochs x 626 steps


def log(msg: str) -> None:
    print(msg, flush=True)


def find_data_dir(explicit: str | None = None) -> Path:
    cands = [Path(explicit)] if explicit else []
    cands += [ROOT / "data" / "banking77", SHARED / "data" / "banking77"]
    for c in cands:
        if (c / "train.csv").is_file():
            return c
    raise SystemExit(f"train.csv not found in any of: {', '.join(map(str, cands))}")


def read_csv(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["text", "category"], rows[0]
    return [(r[0], r[1]) for r in rows[1:]]


def tokenizer_texts() -> list[str]:
    """What the tokenizer checks compare on: the reference strings (tokenizer_vectors.jsonl),
    then every Banking77 text of train.csv and test.csv."""
    texts = [json.loads(line)["text"] for line in open(REFERENCE / "tokenizer_vectors.jsonl", encoding="utf-8")]
    for split in ("train", "test"):
        texts += [text for text, _ in read_csv(find_data_dir() / f"{split}.csv")]
    return texts


def ftdist_tokenize(binary: str, texts: list[str], model: str | None = None) -> list[list[int]]:
    """`ft-dist tokenize --jsonl` on `texts` (the installed model's tokenizer, or `model`'s)."""
    import subprocess

    cmd = [binary, "tokenize", "--jsonl"] + (["--model", model] if model else [])
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    out = subprocess.run(cmd, input=lines, capture_output=True, text=True, check=True).stdout.splitlines()
    return [json.loads(line)["ids"] for line in out]


def report_token_agreement(texts: list[str], a: list[list[int]], b: list[list[int]], summary: str) -> int:
    """Prints `summary` with how many of `texts` `a` and `b` tokenize alike ("{same}/{total}"
    filled in), then the first text where they differ; returns that count."""
    same = sum(x == y for x, y in zip(a, b))
    print(summary.format(same=same, total=len(texts)))
    for t, x, y in zip(texts, a, b):
        if x != y:
            print("  first difference:", repr(t[:60]), x[:12], y[:12])
            break
    return same


def epoch_order(n: int, seed: int = SEED) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


# --------------------------------------------------------------------------- model loading

GGUF_NAME_MAP = [
    (r"^token_embd\.weight$", "model.embed_tokens.weight"),
    (r"^output_norm\.weight$", "model.norm.weight"),
    (r"^blk\.(\d+)\.attn_q\.weight$", r"model.layers.\1.self_attn.q_proj.weight"),
    (r"^blk\.(\d+)\.attn_k\.weight$", r"model.layers.\1.self_attn.k_proj.weight"),
    (r"^blk\.(\d+)\.attn_v\.weight$", r"model.layers.\1.self_attn.v_proj.weight"),
    (r"^blk\.(\d+)\.attn_output\.weight$", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"^blk\.(\d+)\.attn_q_norm\.weight$", r"model.layers.\1.self_attn.q_norm.weight"),
    (r"^blk\.(\d+)\.attn_k_norm\.weight$", r"model.layers.\1.self_attn.k_norm.weight"),
    (r"^blk\.(\d+)\.attn_norm\.weight$", r"model.layers.\1.input_layernorm.weight"),
    (r"^blk\.(\d+)\.post_attention_norm\.weight$", r"model.layers.\1.post_attention_layernorm.weight"),
    (r"^blk\.(\d+)\.ffn_norm\.weight$", r"model.layers.\1.pre_feedforward_layernorm.weight"),
    (r"^blk\.(\d+)\.post_ffw_norm\.weight$", r"model.layers.\1.post_feedforward_layernorm.weight"),
    (r"^blk\.(\d+)\.ffn_gate\.weight$", r"model.layers.\1.mlp.gate_proj.weight"),
    (r"^blk\.(\d+)\.ffn_up\.weight$", r"model.layers.\1.mlp.up_proj.weight"),
    (r"^blk\.(\d+)\.ffn_down\.weight$", r"model.layers.\1.mlp.down_proj.weight"),
]


def gguf_to_hf_name(name: str) -> str:
    for pat, rep in GGUF_NAME_MAP:
        if re.match(pat, name):
            return re.sub(pat, rep, name)
    raise KeyError(f"unmapped GGUF tensor {name}")


def load_via_transformers(gguf_path: Path, attn: str):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32, attn_implementation=attn
    )
    # transformers keeps a `quantization_config` (quant_method gguf, dequantize false) on the
    # config; the weights are plain fp32 tensors, so drop it (also keeps save_pretrained clean).
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        try:
            model.is_quantized = False
        except Exception:
            pass
    return model


def _gguf_field(reader, key):
    from gguf import GGUFValueType  # noqa: F401

    f = reader.fields.get(key)
    if f is None:
        return None
    v = f.parts[f.data[0]]
    return v.tolist()[0] if hasattr(v, "tolist") and len(v) == 1 else v


def gemma3_text_config(reader=None):
    """Gemma3TextConfig for this model (docs/DESIGN.md, "The model"); values read from the GGUF when given."""
    from transformers import Gemma3TextConfig

    g = (lambda k, d: d) if reader is None else (lambda k, d: (_gguf_field(reader, k) if _gguf_field(reader, k) is not None else d))
    n_layers = int(g("gemma3.block_count", 18))
    layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layers)]
    kw = dict(
        vocab_size=262144,
        hidden_size=int(g("gemma3.embedding_length", 640)),
        intermediate_size=int(g("gemma3.feed_forward_length", 2048)),
        num_hidden_layers=n_layers,
        num_attention_heads=int(g("gemma3.attention.head_count", 4)),
        num_key_value_heads=int(g("gemma3.attention.head_count_kv", 1)),
        head_dim=int(g("gemma3.attention.key_length", 256)),
        rms_norm_eps=1e-6,
        sliding_window=int(g("gemma3.attention.sliding_window", 512)),
        max_position_embeddings=int(g("gemma3.context_length", 32768)),
        query_pre_attn_scalar=256,
        hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        layer_types=layer_types,
        tie_word_embeddings=True,
        pad_token_id=PAD, eos_token_id=EOS, bos_token_id=BOS,
    )
    theta_global = float(g("gemma3.rope.freq_base", 1_000_000.0))
    try:  # transformers >= 5: per-layer-type rope parameters
        return Gemma3TextConfig(**kw, rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": theta_global},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        })
    except TypeError:  # transformers 4.x
        return Gemma3TextConfig(**kw, rope_theta=theta_global, rope_local_base_freq=10_000.0)


def load_via_gguf_package(gguf_path: Path, attn: str):
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers import Gemma3ForCausalLM

    reader = GGUFReader(str(gguf_path))
    cfg = gemma3_text_config(reader)
    cfg._attn_implementation = attn
    sd = {}
    for t in reader.tensors:
        name = gguf_to_hf_name(t.name)
        shape = tuple(int(x) for x in reversed(list(t.shape)))  # dims[0] is the contiguous axis
        arr = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
        if name.endswith("norm.weight"):
            arr = arr - 1.0  # GGUF stores HF's (1 + w)
        sd[name] = torch.from_numpy(np.ascontiguousarray(arr))
    model = Gemma3ForCausalLM(cfg)  # random init on CPU, overwritten below
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected, f"unexpected tensors: {unexpected}"
    assert set(missing) <= {"lm_head.weight"}, f"tensors missing from GGUF: {missing}"
    model.tie_weights()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model.float()


def load_model(gguf_path: Path, attn: str = "sdpa", loader: str = "auto"):
    """Returns (model, loader_used)."""
    if loader in ("auto", "transformers"):
        try:
            return load_via_transformers(gguf_path, attn), "transformers"
        except Exception as e:  # noqa: BLE001
            if loader == "transformers":
                raise
            log(f"[peer] transformers GGUF path failed ({type(e).__name__}: {e}); using gguf package")
    return load_via_gguf_package(gguf_path, attn), "gguf-package"


def load_tokenizer(gguf_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)


def encode(tok, text: str) -> list[int]:
    """Tokenize without <bos>/<eos>, control-token text taken literally (docs/DESIGN.md, "Tokenizer":
    a customer message cannot inject `<bos>`); transformers parses it by default, so
    `split_special_tokens=True`."""
    return tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def check_tokenizer(tok, vectors: Path = REFERENCE / "tokenizer_vectors.jsonl"):
    """Compares encode(tok, text) with `ids` of every fixture row, and the transformers
    default (control tokens parsed) with `ids_parse_special` where a row has it, else `ids`.
    Returns a dict with the counts and the first mismatches."""
    if not vectors.is_file():
        return {"rows": 0}
    rows = [json.loads(l) for l in vectors.read_text(encoding="utf-8").splitlines() if l.strip()]
    bad, bad_default = [], []
    for r in rows:
        ids = encode(tok, r["text"])
        if ids != r["ids"]:
            bad.append({"text": r["text"], "expected": r["ids"], "got": ids})
        dflt = tok(r["text"], add_special_tokens=False)["input_ids"]
        if dflt != r.get("ids_parse_special", r["ids"]):
            bad_default.append({"text": r["text"], "expected": r.get("ids_parse_special", r["ids"]), "got": dflt})
    return {"rows": len(rows), "mismatches": len(bad), "first": bad[:3],
            "rows_with_ids_parse_special": sum("ids_parse_special" in r for r in rows),
            "default_mode_mismatches": len(bad_default), "default_first": bad_default[:3]}


# --- LoRA as ft-dist initialises it (Sources/Model/Tensors/CounterRandom.swift and
# TrainableParameters.init(lora:…)): A uniform in (−1/√in, 1/√in) from SplitMix64-mixed
# counters keyed by (seed, 0x104A, tensor index), B zero — so peft can start from exactly
# ft-dist's initial adapter without ft-dist writing one.
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_M64 = (1 << 64) - 1


def _mix(z):
    """SplitMix64's finalizer on numpy uint64 arrays (wrapping arithmetic)."""
    import numpy as np

    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)).astype(np.uint64)
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)).astype(np.uint64)
        return z ^ (z >> np.uint64(31))


def _key(*parts):
    import numpy as np

    k = np.uint64(0x5851F42D4C957F2D)
    for p in parts:
        k = _mix(np.uint64(k ^ np.uint64(p & _M64)))
    return k


def ftdist_lora_a(seed: int, tensor_index: int, rank: int, inputs: int):
    """lora_A [rank, inputs] of the adapter tensor at `tensor_index` (A tensors are the even
    indices: 2 · (layer · targets + target))."""
    import numpy as np

    key = _key(seed, 0x104A, tensor_index)
    idx = np.arange(rank * inputs, dtype=np.uint64)
    bits = _mix(key ^ _mix(idx))
    u = (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    bound = np.float32(1) / np.sqrt(np.float32(inputs))
    return ((np.float32(2) * u - np.float32(1)) * bound).astype(np.float32).reshape(rank, inputs)
