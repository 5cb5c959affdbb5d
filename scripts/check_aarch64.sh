#!/usr/bin/env bash
# The kernel on Linux aarch64, checked under emulation on an x86-64 Debian or Ubuntu machine, as root:
#
#     sudo bash scripts/check_aarch64.sh            # LSTM_AARCH64_ROOT=DIR: where the arm64 root is kept
#
# Builds an arm64 Debian root with debootstrap (once: it is kept, outside the repository, in
# $LSTM_AARCH64_ROOT, by default ~/.cache/lstm_sentiment/arm64-bookworm), installs this checkout's
# package in it with pip, and runs there, through qemu-user and binfmt_misc: which kernel path is
# built and used, the kernel's tests (the kernel against the scan graph, float32 and float64, 1 to 3
# threads; its exp and tanh against libm) and one short training run on a small task that a correct
# model learns. Emulation says nothing about speed; it says whether the code builds, runs and gives
# the right numbers. Needs debootstrap, qemu-user-static and binfmt-support (apt-get install), and
# network access to a Debian mirror and to PyPI. Prints each step's time and the tests' summary line.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
root="${LSTM_AARCH64_ROOT:-$HOME/.cache/lstm_sentiment/arm64-bookworm}"
mirror="${LSTM_DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
mirror="${mirror:-http://deb.debian.org/debian}"
start=$SECONDS
step() { printf '[%4ds] %s\n' $((SECONDS - start)) "$*"; }

for tool in debootstrap update-binfmts chroot; do
  command -v "$tool" >/dev/null || { echo "check_aarch64: $tool is missing: apt-get install debootstrap qemu-user-static binfmt-support" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "check_aarch64: debootstrap and chroot need root: run it with sudo" >&2; exit 2; }

# arm64 programs run through qemu: binfmt_misc mounted, qemu-aarch64 registered.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "check_aarch64: qemu-aarch64 is not registered with binfmt_misc (apt-get install qemu-user-static binfmt-support)" >&2; exit 2; }

if [ ! -x "$root/opt/venv/bin/python" ]; then
  step "building the arm64 root in $root from $mirror"
  rm -rf "$root.partial"
  mkdir -p "$(dirname "$root")"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,python3-dev,g++,libc6-dev \
    bookworm "$root.partial" "$mirror" >"$root.partial.log" 2>&1 || { tail -20 "$root.partial.log" >&2; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$root.partial/etc/ssl/certs/ca-certificates.crt"
  chroot "$root.partial" python3 -m venv /opt/venv
  rm -f "$root.partial.log"
  mv "$root.partial" "$root"
fi

mounted=()
cleanup() { for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
for m in proc dev; do
  if ! mountpoint -q "$root/$m"; then
    if [ "$m" = proc ]; then mount -t proc proc "$root/proc"; else mount --rbind /dev "$root/dev"; fi
    mounted+=("$root/$m")
  fi
done

# PyTensor's C backend compiles with g++ and Python's headers (a root built before they were listed lacks them).
if [ ! -x "$root/usr/bin/g++" ] || ! ls "$root"/usr/include/python3*/Python.h >/dev/null 2>&1; then
  step "installing g++ and python3-dev in the root"
  chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq g++ python3-dev >/dev/null'
fi

step "copying the checkout into the root and installing it (pip, for aarch64)"
rm -rf "$root/src" && mkdir -p "$root/src"
git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && xargs -0 cp --parents -t "$root/src")
chroot "$root" /usr/bin/env -i HOME=/root PATH=/opt/venv/bin:/usr/bin:/bin /opt/venv/bin/python -m pip install \
  --quiet --disable-pip-version-check --cert /etc/ssl/certs/ca-certificates.crt -e "/src[test]"

run() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/opt/venv/bin:/usr/bin:/bin OMP_NUM_THREADS=2 "$@"; }

step "the kernel: built for $(run uname -m), path and threads"
run python -c "from lstm_sentiment.kernel import build; lib = build.load(); assert lib is not None, build.why_unavailable(); print('path', lib.lstm_path().decode(), 'threads', lib.lstm_threads())"
run python -c "from lstm_sentiment.kernel.backend import Backend; assert Backend().fused, 'the model would use the scan graph'; print('the model uses the kernel')"

step "the kernel's tests"
run sh -c 'cd /src && python -m pytest -q -rs -p no:cacheprovider -m "slow or not slow" tests/test_kernel_build.py tests/test_kernel_ops.py -k "equal_the_scan or exp_and_tanh or equal_the_float64 or path or threads or blas" 2>&1 | grep -E "^(FAILED|ERROR|SKIPPED)|passed|failed"'

step "a short training run on a task a correct model learns"
run sh -c 'cd /src && python -m pytest -q -p no:cacheprovider -m "slow or not slow" tests/test_training_loop.py -k "test_train_lstm_learns_the_marker_task" 2>&1 | grep -E "^(FAILED|ERROR|SKIPPED)|passed|failed"'
step "done"
