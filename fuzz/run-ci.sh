#!/usr/bin/env bash
# CI fuzz step: install cargo-fuzz if missing, build every target once, replay the committed
# regression inputs, then fuzz each target for a bounded time from the committed seed corpus.
# Fails on any crash, panic (a property that does not hold), timeout or out-of-memory.
#
#   FUZZ_SECONDS   time per target (default 30)
#   FUZZ_SANITIZER cargo-fuzz --sanitizer (default none: the only mode stable Rust supports)
#
# The committed corpus is only read: new inputs go to a temporary directory, crashes to
# fuzz/artifacts/<target>/ (printed below, with the command that reproduces them).
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-none}
cargo_fuzz_version=0.13.2

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $cargo_fuzz_version"
  if ! cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"; then
    echo "fuzz: cargo-fuzz could not be installed; skipping the fuzz step" >&2
    exit 0
  fi
fi
cargo fuzz --version

# No -O: cargo-fuzz builds in release mode either way, and -O would also turn off debug assertions
# and overflow checks (cargo-fuzz 0.13 adds -Cdebug-assertions only without it). Without ASan on
# stable, those checks are what catch arithmetic and logic errors as crashes.
flags=(--sanitizer "$sanitizer")
cargo fuzz build "${flags[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in $(cargo fuzz list); do
  # Inputs that once crashed a target run once each and must pass now.
  if compgen -G "regressions/$target/*" >/dev/null; then
    echo "=== $target: replaying regressions/$target/"
    if ! cargo fuzz run "${flags[@]}" "$target" regressions/"$target"/*; then
      failed+=("$target (regression)")
    fi
  fi
  echo "=== $target: fuzzing for ${seconds}s"
  mkdir -p "$work/$target" "corpus/$target"
  # -timeout: an input that takes 20 s is a finding (a denial of service), not a slow machine.
  if ! cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=20 -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  ls -l artifacts/*/ 2>/dev/null >&2 || true
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash"
