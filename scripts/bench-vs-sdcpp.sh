#!/usr/bin/env bash
# Cold start and memory against stable-diffusion.cpp, measured side by side in one run:
#   - loading the weights against `cat FILE > /dev/null` (page cache warm);
#   - a whole process, 256x256, 4 Euler steps, cfg 7, 2 threads: wall time and peak RSS of sd-cli against
#     `./sd generate` (fp32 and bf16);
#   - a whole process at 512x512 (1 step: the peak does not grow with steps): peak RSS of sd-cli against
#     `./sd generate --precision bf16`.
# Every figure is printed with its ratio to the baseline measured in the same run. A benchmark prints; it asserts
# nothing. sd-cli is stable-diffusion.cpp's command-line program, built by you beside the project (nothing of it is
# in this repository).
#
# usage: scripts/bench-vs-sdcpp.sh --sd-cli PATH --model FILE.safetensors --tokenizer FILE [--repeat N] [--no-512]
# needs: GNU time (/usr/bin/time; Debian package `time`)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDCLI="" MODEL="" TOKENIZER="" REPEAT=1 BIG=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sd-cli) SDCLI="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --tokenizer) TOKENIZER="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --no-512) BIG=0; shift ;;
    *) echo "bench-vs-sdcpp: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$SDCLI" ] || { echo "bench-vs-sdcpp: --sd-cli must name stable-diffusion.cpp's sd-cli program" >&2; exit 2; }
[ -f "$MODEL" ] || { echo "bench-vs-sdcpp: --model must name a .safetensors checkpoint" >&2; exit 2; }
[ -f "$TOKENIZER" ] || { echo "bench-vs-sdcpp: --tokenizer must name CLIP's vocabulary (bpe_simple_vocab_16e6.txt.gz or a folder's file)" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-sdcpp: --repeat must be a positive number" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-vs-sdcpp: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$ROOT/sd" help > /dev/null 2>&1 || true # builds ./sd's jar now, not inside a timed run

# runs a command under GNU time; prints "WALL_SECONDS MAX_RSS_KB"; the command's output goes to $WORK/$1.log
measure() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.log" 2>&1 \
    || { echo "bench-vs-sdcpp: '$*' failed; its output:" >&2; tail -20 "$WORK/$name.log" >&2; exit 1; }
  cat "$WORK/$name.time"
}
best() { sort -n | head -1; }
gib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cat "$MODEL" > /dev/null
CAT=$(for i in 1 2 3; do /usr/bin/time -f "%e" cat "$MODEL" 2>&1 > /dev/null; done | best)

SD_WALL="" SD_RSS="" F_WALL="" F_RSS="" F_LOAD="" B_WALL="" B_RSS="" B_LOAD=""
for r in $(seq 1 "$REPEAT"); do
  read -r w m < <(measure sdcpp "$SDCLI" -m "$MODEL" -p "a photo of a cat" -W 256 -H 256 --steps 4 \
    --sampling-method euler --cfg-scale 7 -s 42 -t 2 -o "$WORK/sdcpp.png")
  SD_WALL+="$w"$'\n'; SD_RSS+="$m"$'\n'
  for p in fp32 bf16; do
    read -r w m < <(measure "ours-$p" "$ROOT/sd" generate --model "$MODEL" --tokenizer "$TOKENIZER" \
      --prompt "a photo of a cat" --width 256 --height 256 --steps 4 --sampler euler --cfg-scale 7 --seed 42 \
      --threads 2 --precision "$p" --out "$WORK/ours-$p.png")
    load=$(sed -n 's/.* loaded in \([0-9.]*\) s.*/\1/p' "$WORK/ours-$p.log" | head -1)
    if [ "$p" = fp32 ]; then F_WALL+="$w"$'\n'; F_RSS+="$m"$'\n'; F_LOAD+="$load"$'\n'
    else B_WALL+="$w"$'\n'; B_RSS+="$m"$'\n'; B_LOAD+="$load"$'\n'; fi
  done
done
sw=$(printf %s "$SD_WALL" | best); sr=$(printf %s "$SD_RSS" | best)
fw=$(printf %s "$F_WALL" | best); fr=$(printf %s "$F_RSS" | best); fl=$(printf %s "$F_LOAD" | best)
bw=$(printf %s "$B_WALL" | best); br=$(printf %s "$B_RSS" | best); bl=$(printf %s "$B_LOAD" | best)

echo "model: $MODEL ($(stat -c %s "$MODEL") bytes), 2 threads, best of $REPEAT"
echo "cat FILE > /dev/null (page cache warm)   ${CAT} s"
echo "weight load, ./sd generate fp32          ${fl} s = $(ratio "$fl" "$CAT") x cat"
echo "weight load, ./sd generate bf16          ${bl} s = $(ratio "$bl" "$CAT") x cat"
echo "256x256, 4 steps, whole process, wall    sd-cli ${sw} s; ./sd generate fp32 ${fw} s = $(ratio "$fw" "$sw") x sd-cli, bf16 ${bw} s = $(ratio "$bw" "$sw") x sd-cli"
echo "256x256, 4 steps, peak RSS               sd-cli $(gib "$sr") GiB; ./sd generate fp32 $(gib "$fr") GiB = $(ratio "$fr" "$sr") x sd-cli, bf16 $(gib "$br") GiB = $(ratio "$br" "$sr") x sd-cli"

if [ "$BIG" = 1 ]; then
  read -r w sm < <(measure sdcpp512 "$SDCLI" -m "$MODEL" -p "a photo of a cat" -W 512 -H 512 --steps 1 \
    --sampling-method euler --cfg-scale 7 -s 42 -t 2 -o "$WORK/sdcpp512.png")
  read -r w om < <(measure ours512 "$ROOT/sd" generate --model "$MODEL" --tokenizer "$TOKENIZER" \
    --prompt "a photo of a cat" --width 512 --height 512 --steps 1 --sampler euler --seed 42 --threads 2 \
    --precision bf16 --out "$WORK/ours512.png")
  echo "512x512, whole process, peak RSS         sd-cli $(gib "$sm") GiB; ./sd generate bf16 $(gib "$om") GiB = $(ratio "$om" "$sm") x sd-cli"
fi
