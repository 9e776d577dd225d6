#!/usr/bin/env bash
# Fuzzes every decoder an outsider reaches (fuzz/README.md): builds all cargo-fuzz targets
# once, then runs each for FUZZ_SECONDS (default 30) on a scratch copy of its committed
# corpus, so a run never changes the git tree. Prints per target the executions, the
# corpus size and any crash file; exits non-zero if any target crashed, timed out or ran
# out of memory.
#
#   tools/fuzz.sh                              # every target, 30 s each
#   FUZZ_SECONDS=60 tools/fuzz.sh json_rpc     # chosen targets
#
# The fuzz build goes to fuzz/target, or FUZZ_TARGET_DIR: not the workspace's
# CARGO_TARGET_DIR, since nothing of a sanitized nightly build can be shared with it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"

seconds="${FUZZ_SECONDS:-30}"
cargo_fuzz_version="0.13.2"

if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  cargo install --locked "cargo-fuzz@$cargo_fuzz_version"
fi

# -O: optimized like a release build; -a: with debug assertions and overflow checks, so
# arithmetic on outsider-controlled numbers that would wrap in release is caught too.
echo "== build (cargo +nightly fuzz build -O -a)"
cargo +nightly fuzz build -O -a

host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
binaries="$CARGO_TARGET_DIR/$host/release"
run="target/fuzz-run"
rm -rf "$run"
mkdir -p "$run"

# Targets with state on disk (the EHR store's SQLCipher database) keep it in TMPDIR:
# memory-backed when the machine has /dev/shm, removed when the script ends.
scratch_parent=/dev/shm
[ -w "$scratch_parent" ] || scratch_parent="$PWD/$run"
export TMPDIR
TMPDIR="$(mktemp -d "$scratch_parent/healthchain-fuzz.XXXXXX")"
trap 'rm -rf "$TMPDIR"' EXIT

# ASan's ODR check misreports two function-local static arrays of one name in SQLCipher's
# C amalgamation; `cargo fuzz run` sets the same option.
export ASAN_OPTIONS="detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

failed=()
printf '\n%-20s %12s %10s %16s  %s\n' target executions "exec/s" "corpus files/KiB" "result"
for target in "${targets[@]}"; do
  corpus="$run/corpus/$target"
  artifacts="$run/artifacts/$target"
  log="$run/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  if [ -d "corpus/$target" ]; then
    cp -R "corpus/$target/." "$corpus/"
  fi
  options=(
    "-max_total_time=$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    "-artifact_prefix=$artifacts/"
  )
  if [ -f "dictionaries/$target.dict" ]; then
    options+=("-dict=dictionaries/$target.dict")
  fi
  status=0
  "$binaries/$target" "${options[@]}" "$corpus" >"$log" 2>&1 || status=$?
  executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  files="$(find "$corpus" -type f | wc -l)"
  size="$(find "$corpus" -type f -printf '%s\n' | awk '{ total += $1 } END { printf "%d", total / 1024 }')"
  crash="$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | head -n 1)"
  if [ "$status" -eq 0 ] && [ -z "$crash" ]; then
    result="ok"
  else
    result="FAILED (exit $status) ${crash:-see $log}"
    failed+=("$target")
  fi
  printf '%-20s %12s %10s %16s  %s\n' "$target" "${executions:-?}" "${rate:-?}" "$files/$size" "$result"
done

echo
echo "logs: fuzz/$run/logs/   grown corpora: fuzz/$run/corpus/   crashes: fuzz/$run/artifacts/"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashed: ${failed[*]} (reproduce: cargo +nightly fuzz run -O -a TARGET CRASH_FILE)"
  exit 1
fi
echo "== fuzzing done in ${SECONDS}s"
