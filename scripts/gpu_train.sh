#!/bin/bash
# Training on the device machine (one GPU, 16 cores, no TensorFlow, nothing to download): Keras on JAX,
# batches made by 14 worker processes (the data, not the GPU, is what limits the speed there).
#
# Prepared here, run there from the repository root (the device tool carries .gpu and .whl, 64 MiB at most):
#   python scripts/pack_gpu_data.py ../shared/data                    # .gpu/data, ~28 MB
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0 av==18.1.0
#   mkdir -p /tmp/av && unzip -q .whl/av-18.1.0-*.whl -d /tmp/av && rm .whl/av-*.whl \
#       && tar cf - -C /tmp/av . | xz -9 > .gpu/av.tar.xz   # 25 MB instead of 36
#   git checkout 2aaae74 -- vidclean/weights    # stage 1 starts from the weights shipped before it
#   bash scripts/gpu_train.sh 1                 # there: quality and balanced side by side, 7 workers each, 6.5 min
#   git checkout HEAD -- vidclean/weights       # back here
#   mkdir -p runs/gpu
#   tar xf OUT/quality.tar -O best.weights.h5 > runs/gpu/quality_gpu1.weights.h5     # the --init of docs/training.md's runs/qualnb
#   tar xf OUT/balanced.tar -O best.weights.h5 > .gpu/balanced_gpu1.weights.h5
#   bash scripts/gpu_train.sh 2                 # there: balanced from stage 1's best, 14 workers, 3.5 min
#   tar xf OUT/balanced2.tar -O best.weights.h5 > runs/gpu/balanced_gpu2.weights.h5  # docs/training.md: runs/balanced4
#   EPOCHS=9 MINUTES=3.8 bash scripts/gpu_train.sh 3   # there, a later session: quality and balanced from
#                                               # the weights shipped then, 80% camera noise (not shipped: docs/training.md;
#                                               # quality was quality-v2 then, the current network now)
# OUT is the folder the device tool brings back: each run's log and a tar of its run folder.
set -u
case ${1:-} in
  1|2|3) STAGE=$1 ;;
  *) echo "usage: bash scripts/gpu_train.sh 1|2|3" >&2; exit 2 ;;
esac
. scripts/gpu_env.sh
D=.gpu/data
common="--clips $D/train --stills $D/stills --val $D/val --batch 32 --steps ${STEPS:-250} --processes"
train() {  # name, then vidclean train's arguments
  local name=$1; shift
  rm -rf "/tmp/runs/$name"  # a fresh run from --init, never a resumed one
  timeout ${TRAIN_SECONDS:-480} $PY -m vidclean.training.train --out "/tmp/runs/$name" $common "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  (cd "/tmp/runs/$name" && tar cf "$OUT/$name.tar" best.weights.h5 checkpoint/model.weights.h5 log.csv state.json args.json)
  return $rc
}
status=0
if [ "$STAGE" = 1 ]; then
  # (the network then shipped as "quality", before the neighbours' features: now "quality-v2")
  train quality --preset quality-v2 --init vidclean/weights/quality.weights.h5 --lr 2e-4 --seed 31 \
      --epochs 24 --warmup 300 --workers 7 --minutes 6.5 --camera-noise 0.35 &
  q=$!
  train balanced --preset balanced --init vidclean/weights/balanced.weights.h5 --lr 5e-4 --seed 32 \
      --epochs 24 --warmup 300 --workers 7 --minutes 6.5 --camera-noise 0.35 &
  b=$!
  wait $q || status=1
  wait $b || status=1
elif [ "$STAGE" = 3 ]; then
  wide="--camera-noise 0.8 --camera-shot 1e-4 3e-2 --camera-read 1e-3 3e-2"
  train quality3 --preset quality --init vidclean/weights/quality.weights.h5 --lr 1.5e-4 --seed 34 \
      --epochs ${EPOCHS:-13} --warmup ${WARMUP:-200} --workers 7 --minutes ${MINUTES:-4.5} $wide &
  q=$!
  train balanced3 --preset balanced --init vidclean/weights/balanced.weights.h5 --lr 1.5e-4 --seed 35 \
      --epochs ${EPOCHS:-13} --warmup ${WARMUP:-200} --workers 7 --minutes ${MINUTES:-4.5} $wide &
  b=$!
  wait $q || status=1
  wait $b || status=1
else
  train balanced2 --preset balanced --init .gpu/balanced_gpu1.weights.h5 --lr 3e-4 --seed 33 \
      --epochs 20 --warmup 200 --workers 14 --minutes 3.5 --camera-noise 0.35 || status=1
fi
grep -h "^epoch=" "$OUT"/*.log | cut -c1-150
exit $status
