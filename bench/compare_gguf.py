"""Compare two GGUF model files: tensors (names, shapes, types, values) and metadata.

bench/check_export.sh uses it to hold `ft-dist export` against llama.cpp's own tools:
- `--values`: every tensor's values, max |a − b| after dequantizing (gguf-py), and the keys
  llama.cpp reads for gemma3 (general.architecture, gemma3.*, tokenizer.*) value by value;
- `--blocks`: for quantized files, the share of identical blocks and bytes per tensor type.

Usage: python bench/compare_gguf.py A.gguf B.gguf [--values] [--blocks] [--json OUT]
Exit status 1 when --values finds a difference.
"""
import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "llama.cpp" / "src" / "gguf-py"))
import gguf  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("a")
ap.add_argument("b")
ap.add_argument("--values", action="store_true")
ap.add_argument("--blocks", action="store_true")
ap.add_argument("--json")
args = ap.parse_args()
A, B = gguf.GGUFReader(args.a), gguf.GGUFReader(args.b)
ta, tb = {t.name: t for t in A.tensors}, {t.name: t for t in B.tensors}
report = {"a": args.a, "b": args.b}
ok = True


def field_value(f):
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        return [f.contents(i) for i in range(len(f.data))]
    return f.contents()


if args.values:
    names_only_a, names_only_b = sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))
    worst, shape_diffs = 0.0, []
    for n in sorted(set(ta) & set(tb)):
        x, y = ta[n], tb[n]
        if list(x.shape) != list(y.shape):
            shape_diffs.append(n)
            continue
        dx = dequantize(x.data, x.tensor_type).astype(np.float32)
        dy = dequantize(y.data, y.tensor_type).astype(np.float32)
        worst = max(worst, float(np.max(np.abs(dx.reshape(-1) - dy.reshape(-1)))))
    keys = [k for k in A.fields if k.startswith(("gemma3.", "tokenizer.")) or k in ("general.architecture", "general.file_type")]
    keys += [k for k in B.fields if k.startswith(("gemma3.", "tokenizer.")) and k not in A.fields]
    key_diffs = []
    for k in keys:
        va = field_value(A.fields[k]) if k in A.fields else "<missing>"
        vb = field_value(B.fields[k]) if k in B.fields else "<missing>"
        if va != vb:
            key_diffs.append(k)
            print(f"metadata {k}: {str(va)[:80]} != {str(vb)[:80]}")
    report.update(tensors_compared=len(set(ta) & set(tb)), only_in_a=names_only_a, only_in_b=names_only_b,
                  shape_differs=shape_diffs, max_abs_diff=worst, metadata_keys_compared=len(keys), metadata_differs=key_diffs)
    print(f"tensors: {len(set(ta) & set(tb))} in both, only in A {names_only_a}, only in B {names_only_b}, "
          f"shapes differ {shape_diffs}; max |A − B| = {worst}")
    print(f"metadata llama.cpp reads: {len(keys)} keys compared, {len(key_diffs)} differ")
    ok = not (names_only_a or names_only_b or shape_diffs or key_diffs or worst != 0.0)

if args.blocks:
    sizes = {gguf.GGMLQuantizationType[k]: v for k, v in
             {"F32": 4, "F16": 2, "BF16": 2, "Q8_0": 34, "Q5_0": 22, "Q4_K": 144, "Q6_K": 210}.items()}
    blocks, same_blocks, nbytes, same_bytes = (collections.Counter() for _ in range(4))
    for n, x in ta.items():
        y = tb.get(n)
        if y is None or y.tensor_type != x.tensor_type:
            print(f"{n}: {x.tensor_type.name} vs {y.tensor_type.name if y is not None else 'missing'}")
            continue
        a, b = np.frombuffer(x.data.tobytes(), np.uint8), np.frombuffer(y.data.tobytes(), np.uint8)
        size, name = sizes[x.tensor_type], x.tensor_type.name
        ba, bb = a.reshape(-1, size), b.reshape(-1, size)
        blocks[name] += len(ba)
        same_blocks[name] += int(np.all(ba == bb, axis=1).sum())
        nbytes[name] += len(a)
        same_bytes[name] += int((a == b).sum())
    rows = {}
    for name in blocks:
        rows[name] = {"identical_bytes": same_bytes[name] / nbytes[name], "identical_blocks": same_blocks[name] / blocks[name],
                      "blocks": blocks[name]}
        print(f"{name:5s}: {100 * same_bytes[name] / nbytes[name]:8.4f}% of bytes, "
              f"{100 * same_blocks[name] / blocks[name]:8.4f}% of {blocks[name]} blocks identical")
    report["per_type"] = rows

if args.json:
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
sys.exit(0 if ok else 1)
