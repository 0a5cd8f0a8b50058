#!/usr/bin/env bash
# Whole-process comparison: `tenantctl pki init` against openssl creating the same number of
# keys (16: 10 certificates, sa, 5 kubeconfig clients), and the same keys plus the 15
# certificates signed by their CAs, same machine, same run.
# Usage: benches/compare.sh [RUNS]   (needs a release build: cargo build --release -p tenantctl)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
bin=target/release/tenantctl
[ -x "$bin" ] || cargo build --release -p tenantctl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

time_ms() { # command... → wall milliseconds of the median run, and max RSS in KiB of the last
  local times=() rss=0
  for i in $(seq "$runs"); do
    rm -rf "$work/out"; mkdir -p "$work/out"
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
    rss=$(cat "$work/rss")
  done
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  echo "$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p") $rss"
}

openssl_keys() { # ALG-spec for genpkey, 16 keys, 2 at a time (this machine has 2 cores)
  local spec=("$@")
  for i in $(seq 8); do
    openssl genpkey "${spec[@]}" -out "$work/out/a$i.key" 2>/dev/null &
    openssl genpkey "${spec[@]}" -out "$work/out/b$i.key" 2>/dev/null
    wait
  done
}
openssl_tree() { # the same 16 keys, plus the 3 self-signed CAs, 7 leaves and 5 kubeconfig
  # client certificates signed by their CAs (the files pki init writes, minus the kubeconfig YAML)
  openssl_keys "$@"
  local o=$work/out
  for ca in a1 a2 a3; do
    openssl req -x509 -new -key "$o/$ca.key" -subj "/CN=$ca" -days 3650 -out "$o/$ca.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature,keyEncipherment 2>/dev/null
  done
  local n=0
  for leaf in a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7; do
    n=$((n + 1))
    local ca=a$(( n % 3 + 1 ))
    openssl req -new -key "$o/$leaf.key" -subj "/O=group/CN=$leaf" -addext subjectAltName=DNS:kubernetes,DNS:cp1,IP:10.96.0.1,IP:10.0.0.10 2>/dev/null |
      openssl x509 -req -CA "$o/$ca.crt" -CAkey "$o/$ca.key" -days 365 -copy_extensions copy -out "$o/$leaf.crt" 2>/dev/null
  done
}
export -f openssl_keys openssl_tree
export work

# BASELINE_ONLY=1 skips the openssl comparison (for the paired run below).
algs="RSA-2048 ECDSA-P256"
[ -n "${BASELINE_ONLY:-}" ] && algs=""
for alg in $algs; do
  case $alg in
    RSA-2048) spec="-algorithm RSA -pkeyopt rsa_keygen_bits:2048" ;;
    ECDSA-P256) spec="-algorithm EC -pkeyopt ec_paramgen_curve:P-256" ;;
  esac
  read -r ours ours_rss < <(time_ms "$bin" pki init --cert-dir "$work/out/pki" --kubeconfig-dir "$work/out" \
      --node-name cp1 --apiserver-advertise-address 10.0.0.10 --encryption-algorithm "$alg")
  read -r base base_rss < <(time_ms bash -c "openssl_keys $spec")
  read -r tree tree_rss < <(time_ms bash -c "openssl_tree $spec")
  printf '%-11s tenantctl pki init: %5d ms (peak RSS %6d KiB) | openssl genpkey x16 (2 parallel): %5d ms, ratio %.2f | openssl keys + 15 certificates: %5d ms, ratio %.2f\n' \
    "$alg" "$ours" "$ours_rss" "$base" "$(echo "$ours / $base" | bc -l)" "$tree" "$(echo "$ours / $tree" | bc -l)"
done

# Paired comparison with another build (the previous commit, say): BASELINE=path/to/tenantctl.
# The two binaries run alternately, RUNS times each, RSA-2048 `pki init` (whose wall time is
# key generation: heavy-tailed per key, so pairing matters more than run count).
if [ -n "${BASELINE:-}" ]; then
  pairs=()
  for i in $(seq "$runs"); do
    for which in base ours; do
      b=$bin; [ "$which" = base ] && b=$BASELINE
      rm -rf "$work/out"; mkdir -p "$work/out"
      t0=$(date +%s%N)
      "$b" pki init --cert-dir "$work/out/pki" --kubeconfig-dir "$work/out" --node-name cp1 \
        --apiserver-advertise-address 10.0.0.10 --encryption-algorithm RSA-2048 >/dev/null 2>&1
      t1=$(date +%s%N)
      eval "t_$which=$(( (t1 - t0) / 1000000 ))"
    done
    pairs+=("$t_base $t_ours")
  done
  median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  pct() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p); if (i < 1) i = 1; print v[i] }'; }
  col() { printf '%s\n' "${pairs[@]}" | awk -v c="$1" '{ print $c }'; }
  ratios() { printf '%s\n' "${pairs[@]}" | awk '{ printf "%.4f\n", $2 / $1 }'; }
  mean() { awk '{ s += $1 } END { printf "%.0f", s / NR }'; }
  printf 'RSA-2048 pki init, %d pairs: baseline median %s ms (mean %s, p90 %s), this build median %s ms (mean %s, p90 %s); paired ratio median %s (p10 %s, p90 %s)\n' \
    "$runs" "$(col 1 | median)" "$(col 1 | mean)" "$(col 1 | pct 0.9)" "$(col 2 | median)" "$(col 2 | mean)" "$(col 2 | pct 0.9)" \
    "$(ratios | median)" "$(ratios | pct 0.1)" "$(ratios | pct 0.9)"
fi
