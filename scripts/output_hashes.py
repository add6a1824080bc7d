"""MD5 of the decoded frames `vidclean IN OUT --codec ffv1` writes, per preset and a few options:
run before and after a change that must not change the output (run from the repository root).

    python scripts/output_hashes.py runs/hashes_before.json
    python scripts/output_hashes.py runs/hashes_after.json && diff runs/hashes_before.json runs/hashes_after.json
"""

import hashlib
import json
import os
import sys
import tempfile

import av

from vidclean.cli.main import main

CASES = [("samples/dog_noisy.mp4", preset, extra) for preset in ("fast", "balanced", "quality")
         for extra in ([], ["--no-fusion"])]
CASES += [("samples/foliage_noisy.mp4", "balanced", []),
          ("samples/dog_noisy.mp4", "balanced", ["--window", "1", "--sigma", "20"]),
          ("samples/dog_noisy.mp4", "fast", ["--window", "3", "--tile", "128"])]


def frames_md5(path: str) -> str:
    digest = hashlib.md5()
    with av.open(path) as container:
        for frame in container.decode(video=0):
            digest.update(frame.to_ndarray(format="rgb24").tobytes())
    return digest.hexdigest()


if __name__ == "__main__":
    hashes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (src, preset, extra) in enumerate(CASES):
            dst = os.path.join(tmp, f"{i}.mkv")
            assert main([src, dst, "--codec", "ffv1", "--preset", preset, "-q", *extra]) == 0
            hashes[" ".join([src, preset, *extra])] = frames_md5(dst)
            print(src, preset, *extra, hashes[" ".join([src, preset, *extra])], flush=True)
    with open(sys.argv[1], "w") as f:
        json.dump(hashes, f, indent=1)
