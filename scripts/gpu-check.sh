#!/usr/bin/env bash
# The GPU check (issue: training at scale on CUDA). On a machine with one NVIDIA GPU:
#   1. builds guardtune with CUDA;
#   2. runs the golden parity tests (transformers/PEFT tensors) on the GPU;
#   3. runs `guardtune bench` on a randomly initialised full Llama-3.1-8B shape (32 layers, no
#      weights needed), bf16 base, LoRA r 16 on all 7 projections, batch 1, at seq 2048 and 4096,
#      without and with activation checkpointing, and reports tokens/s, MFU against 989 TFLOP/s
#      (H100/H200 dense bf16) and the peak GPU memory (nvidia-smi, sampled every 100 ms).
# Results: $OUT_DIR/results.json (one object), plus each bench's JSON and the test log.
# Budget: under 8 minutes on one H200, build included (each bench is capped at BENCH_TIMEOUT s).
#
# Usage: scripts/gpu-check.sh [OUT_DIR]            (default OUT_DIR: gpu-check)
# Dry run of the script's logic on a CPU machine:
#   DEVICE=cpu FEATURES= SHAPE=small SEQS="64 128" STEPS=1 scripts/gpu-check.sh /tmp/gpu-check
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=${1:-gpu-check}
DEVICE=${DEVICE:-cuda:0}
FEATURES=${FEATURES-cuda}
SHAPE=${SHAPE:-llama31-8b}
SEQS=${SEQS:-2048 4096}
STEPS=${STEPS:-3}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-90}
mkdir -p "$OUT_DIR"
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
feature_args=()
[ -n "$FEATURES" ] && feature_args=(--features "$FEATURES")
have_gpu=false
command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1 && have_gpu=true

echo "== GPU"
gpu=null
if $have_gpu; then
    gpu="\"$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)\""
    echo "$gpu"
fi

echo "== build (features: ${FEATURES:-none})  [$(elapsed) s]"
if ! cargo build --release -p guardtune "${feature_args[@]}"; then
    echo "build failed" >&2
    printf '{"gpu": %s, "build": "failed"}\n' "$gpu" > "$OUT_DIR/results.json"
    exit 1
fi

echo "== golden parity tests on $DEVICE  [$(elapsed) s]"
# The golden tests pick CUDA device 0 when built with the crates' `cuda` feature.
test_features=()
[ -n "$FEATURES" ] && test_features=(--features "guardtune-model/cuda guardtune-lora/cuda")
if cargo test --release -p guardtune-model -p guardtune-lora "${test_features[@]}" --test golden_tiny --test golden \
    > "$OUT_DIR/golden-tests.log" 2>&1; then
    golden=passed
else
    golden=failed
fi
grep -E "^test |test result" "$OUT_DIR/golden-tests.log"
echo "golden parity: $golden"

# Largest GPU memory in use (MiB) while a command runs, sampled every 100 ms; "null" without a GPU.
sample_peak_memory() {
    local log=$1
    shift
    if $have_gpu; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$log" 2>/dev/null &
        local sampler=$!
        "$@"
        local status=$?
        kill "$sampler" 2>/dev/null
        wait "$sampler" 2>/dev/null
        return $status
    fi
    "$@"
}

benches=()
for seq in $SEQS; do
    for checkpointing in off on; do
        name="bench-seq$seq-checkpointing-$checkpointing"
        echo "== $name  [$(elapsed) s]"
        flag=()
        [ "$checkpointing" = on ] && flag=(--checkpointing)
        sample_peak_memory "$OUT_DIR/$name.memory" \
            timeout "$BENCH_TIMEOUT" ./target/release/guardtune bench --device "$DEVICE" --shape "$SHAPE" \
            --batch 1 --seq "$seq" --r 16 --targets all-linear --dtype bf16 "${flag[@]}" \
            --warmup 1 --steps "$STEPS" --peak-tflops "$PEAK_TFLOPS" --json > "$OUT_DIR/$name.json" 2> "$OUT_DIR/$name.err"
        status=$?
        peak=null
        [ -s "$OUT_DIR/$name.memory" ] && peak=$(sort -n "$OUT_DIR/$name.memory" | tail -1)
        if [ $status -eq 0 ]; then
            report=$(cat "$OUT_DIR/$name.json")
            echo "$report" | grep -oE '"(tokens_per_s|mfu|step_ms_median|peak_rss_mib)":[^,]*' | tr '\n' ' '
            echo "peak GPU memory: $peak MiB"
        else
            echo "failed with status $status (124: over ${BENCH_TIMEOUT} s); see $OUT_DIR/$name.err"
            tail -3 "$OUT_DIR/$name.err"
            report=null
        fi
        benches+=("{\"name\": \"$name\", \"seq\": $seq, \"checkpointing\": \"$checkpointing\", \"status\": $status, \"peak_gpu_memory_mib\": $peak, \"report\": $report}")
    done
done

joined=$(IFS=,; echo "${benches[*]}")
printf '{"gpu": %s, "device": "%s", "shape": "%s", "golden_parity": "%s", "peak_tflops": %s, "seconds": %s, "benches": [%s]}\n' \
    "$gpu" "$DEVICE" "$SHAPE" "$golden" "$PEAK_TFLOPS" "$(elapsed)" "$joined" > "$OUT_DIR/results.json"
echo "== done in $(elapsed) s: $OUT_DIR/results.json"
