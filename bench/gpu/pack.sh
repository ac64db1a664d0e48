#!/usr/bin/env bash
# bash bench/gpu/pack.sh  -- run here (CPU machine): the wheels the GPU image lacks, into .gpu-wheels/ (ignored).
# Then, when a session has a GPU: the device tool's run with carry [".gpu-wheels"] and command
#   bash bench/gpu/run.sh
# Prints each wheel's size and the total; leaves out, from the bottom of bench/gpu/wheels.txt, what does not fit
# the carry budget (64 MiB for the carried folder and the working tree together), and says what that skips.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=.gpu-wheels
BUDGET_MB=${BUDGET_MB:-64}
rm -rf "$OUTDIR" && mkdir -p "$OUTDIR"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_34_x86_64)
tree_mb=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | awk '{printf "%.1f", $1/1048576}')
echo "working tree (tracked files): ${tree_mb} MiB"
left=$(awk -v b="$BUDGET_MB" -v t="$tree_mb" 'BEGIN {printf "%.1f", b - t - 1}')
kept=(); skipped=()
while read -r line; do
    spec=${line%%#*}; spec=$(echo "$spec" | xargs); [ -z "$spec" ] && continue
    name=${spec%%==*}
    tmp=$(mktemp -d)
    if [ "$name" = deepspeed ]; then  # an sdist: build a pure-Python wheel with no prebuilt ops
        DS_BUILD_OPS=0 python -m pip wheel -q --no-deps --no-build-isolation -w "$tmp" "$spec" >/dev/null 2>&1 \
            || { echo "FAILED to build $spec"; skipped+=("$spec"); continue; }
    else
        python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            "${PLATFORMS[@]}" -d "$tmp" "$spec" >/dev/null 2>&1 \
            || { echo "NOT FOUND for cp312 manylinux: $spec"; skipped+=("$spec"); continue; }
    fi
    wheel=$(ls "$tmp"/*.whl)
    mb=$(du -b "$wheel" | awk '{printf "%.2f", $1/1048576}')
    if awk -v l="$left" -v m="$mb" 'BEGIN {exit !(m <= l)}'; then
        mv "$wheel" "$OUTDIR/"; left=$(awk -v l="$left" -v m="$mb" 'BEGIN {printf "%.2f", l - m}')
        kept+=("$spec"); printf "  %-40s %6s MiB\n" "$(basename "$wheel")" "$mb"
    else
        skipped+=("$spec (${mb} MiB: does not fit)")
    fi
    rm -rf "$tmp"
done < bench/gpu/wheels.txt
printf '%s\n' "${kept[@]}" > "$OUTDIR/MANIFEST"
total=$(du -cb "$OUTDIR"/*.whl | tail -1 | awk '{printf "%.1f", $1/1048576}')
echo "carry: $OUTDIR ${total} MiB in ${#kept[@]} wheels + working tree ${tree_mb} MiB (budget ${BUDGET_MB} MiB)"
if [ ${#skipped[@]} -gt 0 ]; then
    echo "left out (the checks that name them in bench/gpu/wheels.txt are skipped there):"
    printf '  %s\n' "${skipped[@]}"
fi
