#!/usr/bin/env bash
# The GPU measurements of issue 13 (benchmarks/gpu_pipeline.py) -> ONE report, $OUT/gpu-report.md.
#
# On a lent GPU machine (the device tool; docs/gpu.md has the whole procedure). The Inception
# weights (87 MB) are larger than one call may carry (64 MiB), so benchmarks/gpu_prepare.sh
# (run here first) splits them into .gpuw1 and .gpuw2, and the run takes two calls on one
# still-warm machine (it stays warm only ~30 s after a call: make the second call at once):
#
#   call 1: carry [".gpuw1"]          bash benchmarks/gpu.sh --phase prep
#           stores weights part 1, builds the images, runs the sections needing no weights
#   call 2: carry [".gpuw2", ".whl"]  bash benchmarks/gpu.sh --phase main
#           joins the weights (sha256 checked), installs the peer wheels, runs the rest
#
# With GANEVAL_WEIGHTS already pointing at the weights on the machine, one call does it all:
#   bash benchmarks/gpu.sh            (= --phase all)
# Dry run on a machine without a GPU:  bash benchmarks/gpu.sh --dry-run
# Other options go to gpu_pipeline.py (--images, --large, --peer-images, --batch-size, --sections).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
export OUT
mkdir -p "$OUT"
WORK=/tmp/ganeval-gpu
PARTS="$WORK/weights-parts"
mkdir -p "$PARTS"
for folder in .gpuw1 .gpuw2; do
  if [ -d "$folder" ]; then cp -f "$folder"/* "$PARTS"/; fi
done

args=("$@")
phase=all
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--phase" ]; then phase="${args[$((i + 1))]:-all}"; fi
done

if [ -z "${GANEVAL_WEIGHTS:-}" ] && [ -f "$PARTS/weights.part1" ] && [ -f "$PARTS/weights.part2" ]; then
  cat "$PARTS/weights.part1" "$PARTS/weights.part2" > "$WORK/default_1.pt"
  want="$(cut -d' ' -f1 "$PARTS/SHA256")"
  got="$(sha256sum "$WORK/default_1.pt" | cut -d' ' -f1)"
  if [ "$want" = "$got" ]; then
    export GANEVAL_WEIGHTS="$WORK/default_1.pt"
    echo "weights joined: $GANEVAL_WEIGHTS (sha256 ${got:0:16}... as expected)"
  else
    echo "weights joined with the wrong sha256 ($got, expected $want): not used"
  fi
fi
if [ -z "${GANEVAL_WEIGHTS:-}" ] && [ "$phase" != "prep" ] && [[ " $* " != *" --dry-run "* ]] \
   && python3 -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no weights here (part 1 and/or 2 missing: $(ls "$PARTS" | tr '\n' ' ')): a fresh machine?"
  echo "running the prep phase only; repeat call 1 and then call 2 at once (docs/gpu.md)"
  args+=(--phase prep)
fi

if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
python3 benchmarks/gpu_pipeline.py --work-dir "$WORK" --out "$OUT/gpu-report.md" "${args[@]}" 2>&1 | tee "$OUT/gpu-log.txt"
status="${PIPESTATUS[0]}"
# FIDCallback's cost per 1k samples on the GPU (issue 14; the CPU figure is in docs/progress-and-callbacks.md).
if [ "$phase" != "prep" ] && python3 -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  { echo; echo "## FIDCallback cost on the GPU"; echo; echo '```'
    timeout 120 python3 benchmarks/callback_cost.py --device cuda --samples 2000 2>&1 | tail -6
    echo '```'; } >> "$OUT/gpu-report.md"
fi
# The ViT encoders on the GPU (issue 12): images/s per encoder at fp32/tf32/bf16/fp16, random weights.
if [ "$phase" != "prep" ] && python3 -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  { echo; echo "## ViT encoders on the GPU (random weights, benchmarks/encoders.py)"; echo; echo '```'
    timeout 240 python3 benchmarks/encoders.py --device cuda --threads 8 --images 256 --batch 64 \
      --out "$OUT/encoders-gpu.json" 2>&1 | grep -v Warning | head -8
    echo '```'; } >> "$OUT/gpu-report.md"
fi
exit "$status"
