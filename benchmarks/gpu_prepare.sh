#!/usr/bin/env bash
# Run HERE (no GPU needed), in the checkout the device tool sends, before the two GPU calls of
# benchmarks/gpu.sh: splits ganeval's Inception weights into two carried folders (each under
# the 64 MiB a call may carry) and downloads the peers' wheels (pure Python) into .whl.
# The three folders are added to .git/info/exclude (they must not be committed).
set -euo pipefail
cd "$(dirname "$0")/.."
weights="${GANEVAL_WEIGHTS:-$(python3 -c 'from ganeval.extractors.weights import resolve_weights; print(resolve_weights().path)')}"
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for folder in /.gpuw1/ /.gpuw2/ /.whl/; do
  grep -qxF "$folder" "$exclude" 2>/dev/null || echo "$folder" >> "$exclude"
done
rm -rf .gpuw1 .gpuw2
mkdir -p .gpuw1 .gpuw2 .whl
size=$(stat -c %s "$weights")
half=$(( (size + 1) / 2 ))
head -c "$half" "$weights" > .gpuw1/weights.part1
tail -c +"$((half + 1))" "$weights" > .gpuw2/weights.part2
sha256sum "$weights" | cut -d' ' -f1 > .gpuw1/SHA256
cp .gpuw1/SHA256 .gpuw2/SHA256
cat .gpuw1/weights.part1 .gpuw2/weights.part2 | sha256sum | cut -d' ' -f1 | cmp - .gpuw1/SHA256
# The peers missing from the GPU image (torchmetrics is there; its FID needs torch-fidelity).
python3 -m pip download -q --no-deps --only-binary=:all: -d .whl pytorch-fid==0.3.0 clean-fid==0.1.35 torch-fidelity==0.3.0
du -sh .gpuw1 .gpuw2 .whl
echo "now, at once one after the other (docs/gpu.md):"
echo '  run(carry=[".gpuw1"], command="bash benchmarks/gpu.sh --phase prep", timeout_s=300)'
echo '  run(carry=[".gpuw2", ".whl"], command="bash benchmarks/gpu.sh --phase main", timeout_s=600)'
