#!/usr/bin/env bash
# Creates .venv-peer/ at the repo root with PyTorch + transformers + peft for the peer
# benchmark (bench/peer_pytorch.py, its --peft-lora variant), the peft parity fixture and the
# interop checks (bench/check_hf_checkpoint.py, bench/check_peft_adapter.py). Idempotent: does
# nothing when the venv already imports every package.
#
# Packages: torch transformers peft gguf numpy safetensors, plus accelerate (transformers
# refuses to load a GGUF without it) and sentencepiece + protobuf (llama.cpp's
# convert_hf_to_gguf.py and bench/check_tokenizer_model.py read tokenizer.model with them). Only PyPI is reachable here (no download.pytorch.org).
# PyPI's Linux torch wheel is the CUDA build and pulls ~3 GB of nvidia-*/cuda-* wheels; it runs fine on CPU. That is the
# default, because it is the same build (torch 2.15) the reference fixtures were made with.
# Measured here: ~2.5 min (136 s) for a fresh install, 5.6 GB on disk.
# PEER_TORCH=cpu installs a "+cpu" wheel instead when pip's find-links (here /opt/wheels)
# has one (a 2.13 CPU-only build on this machine image) — smaller, but an older torch.
#
# Env: PEER_VENV (default <repo>/.venv-peer), PEER_PYTHON (default python3),
#      PEER_TORCH ("pypi" default | "cpu"), PEER_TORCH_VERSION (pin, e.g. 2.15.0).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEER_VENV:-$ROOT/.venv-peer}"
PY="${PEER_PYTHON:-python3}"
MODE="${PEER_TORCH:-pypi}"

check() {
  "$VENV/bin/python" - <<'PY' 2>/dev/null
import torch, transformers, peft, gguf, numpy, safetensors, accelerate, sentencepiece, google.protobuf
print(f"torch {torch.__version__}  transformers {transformers.__version__}  peft {peft.__version__}  "
      f"gguf {getattr(gguf, '__version__', '?')}  numpy {numpy.__version__}  "
      f"safetensors {safetensors.__version__}")
PY
}

if [ -x "$VENV/bin/python" ] && check; then
  echo "setup_peer: $VENV already complete"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)
"${PIP[@]}" --upgrade pip >/dev/null

torch_spec="torch${PEER_TORCH_VERSION:+==$PEER_TORCH_VERSION}"
if [ "$MODE" = "cpu" ]; then
  cpu_ver=$("$VENV/bin/python" -m pip index versions torch 2>/dev/null \
            | tr ', ' '\n\n' | grep -m1 '+cpu$' || true)
  if [ -n "$cpu_ver" ]; then
    echo "setup_peer: CPU-only torch $cpu_ver"
    torch_spec="torch==$cpu_ver"
  else
    echo "setup_peer: no +cpu torch wheel reachable; falling back to PyPI torch"
  fi
fi

"${PIP[@]}" "$torch_spec" transformers peft gguf numpy safetensors accelerate sentencepiece protobuf
end=$(date +%s)
check
echo "setup_peer: installed into $VENV in $((end - start)) s"
