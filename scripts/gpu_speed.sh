#!/bin/bash
# Inference speed on the device machine's GPU (Keras on JAX, float32): `vidclean bench --speed` for
# every preset at 854x480 and 1920x1080, end to end (decode on the CPU, the networks on the GPU,
# x264 on the CPU) and the model alone. Run from the repository root, carrying .gpu and .whl
# (see scripts/gpu_train.sh); writes $OUT/speed_gpu.json and $OUT/speed_gpu.log.
set -u -o pipefail
. scripts/gpu_env.sh
$PY -c "import jax; print(jax.devices())" || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null
timeout ${SPEED_SECONDS:-240} $PY -m vidclean bench --speed .gpu/data/val/bus --sizes ${SIZES:-854x480 1920x1080} \
    --frames ${FRAMES:-300} --no-compare --json "$OUT/speed_gpu.json" 2>&1 | tee "$OUT/speed_gpu.log"
