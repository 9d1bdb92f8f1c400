#!/usr/bin/env bash
# `ft-dist export` held against llama.cpp's own tools (built by bench/build_llama_cpp.sh) and
# transformers/sentencepiece (the peer venv, bench/setup_peer.sh). Writes runs/export-check/
# (summary.json and the files it compared) and prints one line per check:
#   1. quantizers: llama-quantize Q4_K_M of `export --type f32` of the installed model vs
#      `export --type q4_k_m` of the same file — identical types and bytes expected
#      (REFRESH_FIXTURE=1 also rewrites Tests/ModelTests/Fixtures/llama_quantize_q4_k_m.json
#      with bench/quantize_fixture.py: the same, on values moved off the quantization grids);
#   2. `export --type q4_k_m` of the installed model vs the installed file itself: the share
#      of identical bytes and blocks per tensor type;
#   3. a full checkpoint (2 real recipe steps) through llama.cpp's convert_hf_to_gguf.py vs
#      `export --type f32` of it: tensor names, shapes, values (max |diff|) and every
#      metadata key llama.cpp reads for gemma3;
#   4. sentencepiece on the checkpoint's tokenizer.model vs ft-dist's tokenizer (reference
#      strings and every Banking77 text);
#   5. serving: an adapter checkpoint (default runs/lora's newest) as a llama.cpp LoRA GGUF over
#      the base it was trained on (the Q4_K_M file, and its f32 export: the exact values the
#      adapters saw) vs its merged f32 export, greedy llama-completion on N test prompts,
#      beside ft-dist's own predictions (bench/llama_serving.py);
#   6. the whole test split (3,080 prompts) in llama.cpp's llama-server on the merged export as
#      f16, f32, q8_0 and q4_k_m: the share with ft-dist eval's intent, and the accuracy
#      (bench/llama_eval.py).
#
# Usage: bash bench/check_export.sh [ADAPTER_CHECKPOINT] [N_PROMPTS]   (defaults: runs/lora newest, 200)
# Takes ≈45 min (step 5 is one llama-completion process per prompt; step 6 ≈25 min).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bin=${FTDIST_BIN:-.build/release/ft-dist}
py=.venv-peer/bin/python
out=runs/export-check
base=models/gemma-3-270m-q4_k_m.gguf
adapter=${1:-$(ls -d runs/lora/checkpoint-* 2>/dev/null | tail -1)}
prompts=${2:-200}
[ -x "$bin" ] || { echo "[export-check] $bin missing: swift build -c release" >&2; exit 1; }
[ -x "$py" ] || { echo "[export-check] the peer venv is missing: bash bench/setup_peer.sh" >&2; exit 1; }
bash bench/build_llama_cpp.sh
llama=bench/llama.cpp
export PYTHONPATH="$ROOT/$llama/src/gguf-py"
rm -rf "$out" && mkdir -p "$out"
status=0   # a failed comparison is reported, the other checks still run

echo "[export-check] 1. ft-dist's quantizers vs llama-quantize on the same fp32 values"
"$bin" export "$base" --type f32 --output "$out/base-f32.gguf" >/dev/null 2>&1
"$llama/bin/llama-quantize" "$out/base-f32.gguf" "$out/base-llama-q4_k_m.gguf" Q4_K_M 2 >"$out/llama-quantize.log" 2>&1
"$bin" export "$out/base-f32.gguf" --type q4_k_m --output "$out/base-ftdist-q4_k_m.gguf" >/dev/null 2>&1
"$py" bench/compare_gguf.py "$out/base-llama-q4_k_m.gguf" "$out/base-ftdist-q4_k_m.gguf" --blocks --json "$out/quantizers.json" || status=1
if [ "${REFRESH_FIXTURE:-0}" = 1 ]; then
  "$py" bench/quantize_fixture.py "$out/base-f32.gguf" "$llama/bin/llama-quantize" Tests/ModelTests/Fixtures/llama_quantize_q4_k_m.json "$out"
fi

echo "[export-check] 2. export --type q4_k_m of the installed model vs the installed file"
"$bin" export "$base" --type q4_k_m --output "$out/base-requantized.gguf" >/dev/null 2>&1
"$py" bench/compare_gguf.py "$base" "$out/base-requantized.gguf" --blocks --json "$out/requantized.json" || status=1

echo "[export-check] 3. a full checkpoint through llama.cpp's convert_hf_to_gguf.py vs export --type f32"
"$bin" train --max-steps 2 --save-steps 2 --no-final-eval --output "$out/full-run" >"$out/full-run.log" 2>&1
checkpoint="$out/full-run/checkpoint-000002"
"$bin" export "$checkpoint" --type f32 --output "$out/full-ftdist-f32.gguf" >/dev/null 2>&1
"$py" "$llama/src/convert_hf_to_gguf.py" "$checkpoint" --outtype f32 --outfile "$out/full-converter-f32.gguf" >"$out/converter.log" 2>&1
"$py" bench/compare_gguf.py "$out/full-converter-f32.gguf" "$out/full-ftdist-f32.gguf" --values --json "$out/converter.json" || status=1

echo "[export-check] 4. sentencepiece on the checkpoint's tokenizer.model"
"$py" bench/check_tokenizer_model.py "$checkpoint" "$bin" > "$out/tokenizer.txt" || status=1
cat "$out/tokenizer.txt"

if [ -n "$adapter" ]; then
  echo "[export-check] 5. $adapter: llama.cpp --lora over the base vs the merged export, $prompts test prompts"
  "$bin" export "$adapter" --output "$out/adapter.gguf" >/dev/null 2>&1
  "$bin" export "$adapter" --merge --type f32 --output "$out/merged-f32.gguf" >/dev/null 2>&1
  "$py" bench/llama_serving.py --run "$(dirname "$adapter")" --n "$prompts" --out "$out/serving.json" \
    lora="$base+$out/adapter.gguf" lora-over-f32-base="$out/base-f32.gguf+$out/adapter.gguf" merged="$out/merged-f32.gguf"
  echo "[export-check] 6. the whole test split in llama.cpp (llama-server) on the merged export as f16, f32, q8_0, q4_k_m"
  for t in f16 q8_0 q4_k_m; do "$bin" export "$adapter" --merge --type "$t" --output "$out/merged-$t.gguf" >/dev/null 2>&1; done
  "$py" bench/llama_eval.py --run "$(dirname "$adapter")" --out "$out/llama-eval.json" \
    f16="$out/merged-f16.gguf" f32="$out/merged-f32.gguf" q8_0="$out/merged-q8_0.gguf" q4_k_m="$out/merged-q4_k_m.gguf" || status=1
else
  echo "[export-check] 5. skipped: no adapter checkpoint (train one with --method lora, or pass its path)"
fi
rm -f "$out"/*.gguf
echo "[export-check] done: $out (status $status)"
exit $status
