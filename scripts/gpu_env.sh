# Sourced by the scripts/gpu_*.sh scripts on the device machine (no TensorFlow, nothing to download):
# PyAV and Keras from the carried wheels (.gpu/av.tar.xz, .whl), Keras on JAX.
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}
mkdir -p /tmp/site "$OUT" && tar xJf .gpu/av.tar.xz -C /tmp/site || exit 1
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
