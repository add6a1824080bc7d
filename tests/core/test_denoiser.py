"""The streaming engine: one output per input, the same network as in training, constant work per frame."""

import numpy as np
import pytest
from conftest import synth_frame

from vidclean.core.denoiser import Denoiser
from vidclean.core.networks import MAX_DELAY
from vidclean.core.tiling import Tiling, pad_to_multiple
from vidclean.io.reader import Frame
from vidclean.metrics import psnr


def frames(n, width=40, height=28):
    rng = np.random.default_rng(0)
    for i in range(n):
        noisy = synth_frame(i, width, height).astype(np.float32) + rng.normal(0, 20, (height, width, 3))
        yield Frame(i, i, i / 25, np.clip(noisy, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def denoiser():
    return Denoiser(window=5, sigma=20, fusion=False)


class Counting:
    """Wraps one of the denoiser's compiled networks to count calls."""

    def __init__(self, network):
        self.network, self.calls = network, 0

    def __call__(self, inputs):
        self.calls += 1
        return self.network(inputs)


@pytest.mark.parametrize("preset,n,window", [*(("balanced", n, w) for n in (1, 2, 6) for w in (1, 3, 7)),
                                             ("quality", 6, 1), ("quality", 6, 7)])
def test_one_output_per_frame_in_order_with_constant_work(preset, n, window, monkeypatch):
    import vidclean.core.denoiser as engine

    # no restart of the ConvLSTM state within these few frames (its warm-up steps are counted in
    # the tests of parts below)
    monkeypatch.setattr(engine, "STATE_PERIOD", 128)
    d = Denoiser(preset, window=window, sigma=20, fusion=False)
    d.encoder, d.temporal, d.decoder = enc, tmp, dec = tuple(Counting(f) for f in (d.encoder, d.temporal, d.decoder))
    out = list(d.run(frames(n, 37, 23)))  # odd size: padded inside, cropped back
    assert [f.index for f, _ in out] == list(range(n))
    assert all(c.shape == (23, 37, 3) and c.dtype == np.uint8 for _, c in out)
    # each frame encoded once; the ConvLSTM steps once per frame plus the reflected pre-roll
    assert enc.calls == n
    assert tmp.calls == n + window - 1
    assert dec.calls == n


@pytest.mark.parametrize("preset,window", [("balanced", 1), ("balanced", 5), *(("quality", w) for w in (1, 3, 5, 7))])
def test_streaming_matches_the_training_graph(preset, window):
    """Output t of the stream equals the training model run on the same reflected sequence: the
    ConvLSTM state after frame t + k and, for a network that takes them ("quality"), the features
    of the frames before and after t (in a window of one, the frame before and t itself)."""
    denoiser = Denoiser(preset, window=window, sigma=20, fusion=False)
    size = 24  # the training graph takes square clips
    seq = list(frames(8, size, size))
    out = [c for _, c in denoiser.run(iter(seq))]
    k, t = window // 2, 3
    order = [*range(k, 0, -1), *range(t + k + 1)]  # reflected pre-roll (k = 2: x2 x1), then x0 x1 ... x(t+k)
    assert order[len(order) - 1 - k] == t
    clip = np.stack([seq[i].rgb for i in order])[None].astype(np.float32) / 255
    train = denoiser.nets.training_model(len(order), size)
    pred = train.predict([clip, np.full((1, 1), 20 / 255, np.float32)], verbose=0)[0, k]  # output k: look-ahead k
    ref = np.clip(np.rint(pred * 255), 0, 255)
    assert np.abs(ref - out[t].astype(int)).max() <= 1  # float rounding only


def test_without_pixels_the_frames_come_back_bare_and_the_output_is_the_same(denoiser):
    with_pixels = list(denoiser.run(frames(5)))
    bare = list(denoiser.run(frames(5), pixels=False))
    assert all(f.rgb is not None for f, _ in with_pixels) and all(f.rgb is None for f, _ in bare)
    assert [(f.index, f.pts) for f, _ in bare] == [(f.index, f.pts) for f, _ in with_pixels]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(with_pixels, bare))


@pytest.mark.parametrize("preset", ["balanced", "quality"])
def test_large_frames_compute_features_again_and_keep_half_precision_state(preset, monkeypatch):
    """Above LARGE_FRAME_PIXELS (4K-sized frames; lowered here) the window keeps 8-bit tiles and
    no features (the encoder runs again for the frame decoded and its neighbours, and for the
    reflected last frame) and a float16 ConvLSTM state: the output stays within a level or two of
    the normal path."""
    import vidclean.presets as registry

    d = Denoiser(preset, window=3, sigma=20, precision="float32", fusion=False)
    normal = [c for _, c in d.run(frames(6))]
    monkeypatch.setattr(registry, "LARGE_FRAME_PIXELS", 16 * 16)
    d = Denoiser(preset, window=3, sigma=20, precision="float32", fusion=False)
    d.encoder = enc = Counting(d.encoder)
    large = [c for _, c in d.run(frames(6))]
    # once per frame, once more for each item the first window steps twice (the reflected
    # frame 1) and for the reflected frame 4 after the last, and for each decoded frame: once
    # ("balanced"), or once for it and once for each of the frames before and after it
    # ("quality"; at the two ends these are one frame, a reflection, encoded once)
    decoding = 6 if preset == "balanced" else 2 + 3 * 4 + 2
    assert registry.PRESETS[preset].neighbours == (preset == "quality")
    assert enc.calls == 6 + 1 + 1 + decoding
    assert np.abs(np.stack(large).astype(int) - np.stack(normal)).max() <= 2
    assert psnr(np.stack(large), np.stack(normal)) > 50


def test_denoising_improves_psnr(denoiser):
    clean = [synth_frame(i, 64, 48) for i in range(8)]
    rng = np.random.default_rng(1)
    noisy = [np.clip(c + rng.normal(0, 20, c.shape), 0, 255).astype(np.uint8) for c in clean]
    out = [c for _, c in denoiser.run(Frame(i, i, None, f) for i, f in enumerate(noisy))]
    mse = lambda a, b: np.mean((np.float64(a) - b) ** 2)  # noqa: E731
    assert np.mean([mse(o, c) for o, c in zip(out, clean)]) < 0.5 * np.mean([mse(n, c) for n, c in zip(noisy, clean)])


def test_pad_to_multiple_keeps_content():
    rgb = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    padded = pad_to_multiple(rgb, 4)
    assert padded.shape == (8, 8, 3)
    assert np.array_equal(padded[:5, :7], rgb)


def test_rejects_bad_windows():
    for window in (0, 2, 2 * MAX_DELAY + 3):
        with pytest.raises(ValueError):
            Denoiser(window=window, fusion=False)


def test_pixel_shuffle_undoes_pixel_unshuffle():
    from vidclean.core.networks import PixelShuffle, PixelUnshuffle

    x = np.random.default_rng(0).random((8, 12, 3), np.float32)
    folded = np.asarray(PixelUnshuffle(2)(x[None]))[0]
    assert folded.shape == (4, 6, 12) and np.array_equal(folded[1, 2, 3:6], x[2, 5])  # (dy, dx) = (0, 1)
    assert np.array_equal(np.asarray(PixelShuffle(2)(folded[None]))[0], x)


@pytest.mark.parametrize("size", [(200, 136), (520, 264), (96, 400)])
def test_tiles_cover_the_frame_and_their_weights_sum_to_one(size):
    height, width = size
    tiling = Tiling(height, width, max_pixels=128 * 128)
    th, tw = tiling.size
    assert len(tiling.boxes) > 1 and th <= 128 and tw <= 128
    covered = np.zeros((height, width, 1), np.float32)
    for (y, x), w in zip(tiling.boxes, tiling.weights):
        assert y % 4 == 0 and x % 4 == 0 and y + th <= height and x + tw <= width
        covered[y:y + th, x:x + tw] += w
    assert np.allclose(covered, 1, atol=1e-5)
    frame = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert np.array_equal(tiling.merge(tiling.split(frame)), frame)  # row by row, 8-bit


def noisy_clip(n, width, height, sigma, seed=0):
    rng = np.random.default_rng(seed)
    clean = [synth_frame(i, width, height) for i in range(n)]
    noisy = [np.clip(c + rng.normal(0, sigma, c.shape), 0, 255).astype(np.uint8) for c in clean]
    return clean, noisy


def test_tiled_output_matches_untiled(denoiser):
    """Tiles with their own recurrent state, blended, lose nothing against one whole frame."""
    clean, noisy = noisy_clip(6, 264, 200, 20)
    whole = [c for _, c in denoiser.run(Frame(i, i, None, f) for i, f in enumerate(noisy))]
    tiled_denoiser = Denoiser(window=5, sigma=20, tile=128, fusion=False)
    tiled = [c for _, c in tiled_denoiser.run(Frame(i, i, None, f) for i, f in enumerate(noisy))]
    assert len(tiled_denoiser.tiling(200, 264).boxes) == 6
    assert abs(psnr(np.stack(tiled), np.stack(clean)) - psnr(np.stack(whole), np.stack(clean))) < 0.05
    assert psnr(np.stack(tiled), np.stack(whole)) > 40


def test_no_seam_on_a_flat_gradient():
    y, x = np.mgrid[0:200, 0:264]
    gradient = np.stack([40 + 0.6 * x, 60 + 0.5 * y, 200 - 0.3 * (x + y)], axis=-1).round().astype(np.uint8)
    frames = [Frame(i, i, None, gradient) for i in range(4)]
    whole = [c for _, c in Denoiser(window=3, sigma=10, fusion=False).run(frames)]
    tiled = [c for _, c in Denoiser(window=3, sigma=10, tile=128, fusion=False).run(frames)]
    diff = np.abs(np.stack(tiled).astype(int) - np.stack(whole))
    assert diff.max() <= 2
    # a seam would show as a step: the tiled output's column-to-column change stays as smooth as the whole's
    step = lambda v: np.abs(np.diff(v[-1].astype(int), axis=1)).max()  # noqa: E731
    assert step(tiled) <= step(whole) + 1


@pytest.mark.parametrize("preset", ["fast", "balanced"])
def test_bfloat16_where_the_cpu_has_it_keeps_the_quality_of_float32(preset):
    """precision "auto" runs the convolutions in bfloat16 on a CPU with AMX or AVX-512 BF16
    (float32 elsewhere): the output may differ by a level here and there, the PSNR by no more than
    a few hundredths of a dB; "float32" afterwards is float32 again."""
    from conftest import SAMPLES

    from vidclean.core.backend import bfloat16_available
    from vidclean.io.reader import open_video
    from vidclean.training.noise import add_gaussian

    with open_video(SAMPLES / "foliage_clean.mp4") as stream:
        clean = [f.rgb for f, _ in zip(stream, range(8))]
    rng = np.random.default_rng(1)
    noisy = [Frame(i, i, i / 25, add_gaussian(c, 20, rng)) for i, c in enumerate(clean)]

    def run(precision):
        d = Denoiser(preset, window=3, sigma=20, precision=precision, fusion=False)
        return d, np.stack([out for _, out in d.run(noisy)])

    with pytest.raises(ValueError, match="precision"):
        Denoiser(preset, precision="float16", fusion=False)
    if not bfloat16_available():
        assert Denoiser(preset, precision="auto", fusion=False).precision == "float32"
        pytest.skip("no bfloat16 arithmetic on this CPU: auto is float32")
    _, exact = run("float32")
    auto, fast = run("auto")
    _, exact_again = run("float32")
    assert auto.precision == "bfloat16"
    assert np.array_equal(exact, exact_again)
    assert not np.array_equal(fast, exact)  # bfloat16 did run
    assert np.abs(fast.astype(int) - exact).max() <= 4
    assert abs(psnr(fast, np.stack(clean)) - psnr(exact, np.stack(clean))) < 0.05


def test_1080p_goes_in_one_tile_and_4k_in_tiles_of_at_most_a_megapixel(monkeypatch):
    import vidclean.core.tiling as engine

    monkeypatch.setattr(engine, "available_memory", lambda: 24 << 30)
    assert len(Tiling(1080, 1920, engine.tile_budget(1080 * 1920)).boxes) == 1
    uhd = Tiling(2160, 3840, engine.tile_budget(2160 * 3840))
    assert len(uhd.boxes) > 1 and uhd.size[0] * uhd.size[1] <= 1024 * 1024
    monkeypatch.setattr(engine, "available_memory", lambda: 300 << 20)  # little memory left: smaller tiles
    assert len(Tiling(1080, 1920, engine.tile_budget(1080 * 1920)).boxes) > 1


@pytest.mark.parametrize("window,sigma", [(5, None), (1, 20), (7, 20)])
def test_a_part_of_a_video_cleaned_alone_equals_that_part_of_a_whole_run(window, sigma, monkeypatch):
    """The state restarts every STATE_PERIOD frames (warmed up before), the noise estimate reads
    a bounded history: fed its history, a part comes out exactly as in the whole run."""
    import vidclean.core.denoiser as engine
    from vidclean.presets import SIGMA_HISTORY, STATE_WARMUP

    monkeypatch.setattr(engine, "STATE_PERIOD", 16)
    monkeypatch.setattr(engine, "STATE_WARMUP", 6)
    d = Denoiser(window=window, sigma=sigma, fusion=False)
    rng = np.random.default_rng(0)  # noise rising over time: each frame's estimate depends on its history
    seq = [Frame(i, i, i / 25, np.clip(synth_frame(i, 24, 20) + rng.normal(0, 5 + i / 8, (20, 24, 3)), 0, 255)
                 .astype(np.uint8)) for i in range(200)]
    whole = [c for _, c in d.run(iter(seq))]
    history = 6 + (SIGMA_HISTORY if sigma is None else 0)  # the warm-up, and its frames' noise estimates
    for a, b in [(16, 32), (112, 144), (176, 200), (150, 170)]:  # the last from within a period
        h0 = max(0, a // 16 * 16 - history)
        part = list(d.run(iter(seq[h0:b + window // 2]), first=h0, emit_from=a))
        assert len(part) >= b - a
        for t, (frame, clean) in zip(range(a, b), part):
            assert frame.index == t
            np.testing.assert_array_equal(clean, whole[t], err_msg=f"frame {t} of part {a}-{b}")
    # a restart warmed up as the engine does it (STATE_WARMUP frames) is about as good as a state
    # carried from the start
    monkeypatch.setattr(engine, "STATE_WARMUP", STATE_WARMUP)
    restarted = [c for _, c in d.run(iter(seq))]
    monkeypatch.setattr(engine, "STATE_PERIOD", 10**9)
    carried = [c for _, c in d.run(iter(seq))]
    # measured 40.2-43.1 dB at the worst frame, in bfloat16 and in float32 alike (the balanced
    # weights of runs/balanced6; 43.0-46.9 with runs/balanced5, 51-63 dB with the first ones: the
    # longer balanced trains, the more it leans on the carried state), about 2.5 levels RMS; a
    # warm-up of 4 frames gave 39.1 at window 1, none 33.8, so the bound tells them apart
    assert min(psnr(restarted[t], carried[t]) for t in range(16, 200)) > 39.5


@pytest.mark.parametrize("preset", ["fast", "balanced"])
def test_the_state_restarts_before_it_drifts_on_fast_motion(preset, monkeypatch):
    """A ConvLSTM state carried far longer than the 7-frame clips it was trained on drifts: on fast
    motion at sigma 50 the frames 16-31 of the bundled BMX clip come out clearly worse from a state
    carried from frame 0 than from the engine's, restarted every STATE_PERIOD frames."""
    from conftest import SAMPLES

    import vidclean.core.denoiser as engine
    from vidclean.io.clips import read_clip
    from vidclean.training.noise import add_gaussian

    clean = read_clip(SAMPLES / "bmx_clean.mp4", 32)
    noisy = add_gaussian(clean, 50, np.random.default_rng(3))

    def late_psnr():
        out = [c for _, c in Denoiser(preset, window=5, sigma=50, fusion=False).run(Frame(i, i, i / 25, f) for i, f in enumerate(noisy))]
        return np.mean([psnr(out[t], clean[t]) for t in range(16, 32)])

    shipped = late_psnr()
    monkeypatch.setattr(engine, "STATE_PERIOD", 10**9)
    carried = late_psnr()
    # measured (float32) 25.55 against 24.54 dB for balanced, 26.23 against 25.65 for fast; with
    # the former period of 128 the two are the same run
    assert shipped > carried + 0.3, (shipped, carried)


@pytest.mark.parametrize("window", [1, 5])
def test_a_part_equals_the_whole_run_with_neighbours_too(window, monkeypatch):
    """"quality" decodes each frame with the frames before and after it: at a part's first frame
    the frame before is one of its warm-up frames, as in the whole run."""
    import vidclean.core.denoiser as engine

    monkeypatch.setattr(engine, "STATE_PERIOD", 8)
    monkeypatch.setattr(engine, "STATE_WARMUP", 4)
    d = Denoiser("quality", window=window, sigma=20, fusion=False)
    seq = list(frames(30, 24, 20))
    whole = [c for _, c in d.run(iter(seq))]
    for a, b in [(8, 16), (21, 30)]:
        h0 = a // 8 * 8 - 4
        part = list(d.run(iter(seq[h0:b + window // 2]), first=h0, emit_from=a))
        assert [f.index for f, _ in part][:b - a] == list(range(a, b))
        for t, (_, clean) in zip(range(a, b), part):
            np.testing.assert_array_equal(clean, whole[t], err_msg=f"frame {t} of part {a}-{b}")


def test_presets_rank_by_quality_on_real_footage():
    """Every preset ships weights; on the bundled clean sample with Gaussian noise (sigma 25),
    cleaned as shipped (fused): quality well above the others, fast about as good as balanced
    (a narrower balanced with a quicker flow), each well above the noisy input."""
    from conftest import SAMPLES

    from vidclean.io.clips import read_clip
    from vidclean.presets import FUSION_RADIUS, PRESETS, weights_path
    from vidclean.training.noise import add_gaussian

    assert all(weights_path(p).is_file() for p in PRESETS)
    clean = read_clip(SAMPLES / "foliage_clean.mp4", 8)[:, :240, :320]
    noisy = add_gaussian(clean, 25, np.random.default_rng(0))
    scores = {}
    for preset in ("fast", "balanced", "quality"):
        out = [c for _, c in Denoiser(preset, window=5, sigma=25, fusion=(FUSION_RADIUS, FUSION_RADIUS)).run(
            Frame(i, i, i / 25, f) for i, f in enumerate(noisy))]
        scores[preset] = np.mean([psnr(o, c) for o, c in zip(out, clean)])
    noisy_psnr = np.mean([psnr(n, c) for n, c in zip(noisy, clean)])
    # measured 29.06 / 27.28 / 27.46 dB (quality / balanced / fast; the networks alone 27.00 /
    # 26.19 / 26.28; on the validation clips at sigma 20, fused, balanced leads fast by 0.16 dB)
    assert scores["quality"] > max(scores["balanced"], scores["fast"]) + 1.0, scores
    assert abs(scores["fast"] - scores["balanced"]) < 0.6, scores
    assert scores["fast"] > noisy_psnr + 3, (scores, noisy_psnr)


def test_fusion_follows_the_network_and_parts_match_the_whole_run():
    """With ``fusion`` the Denoiser's outputs are the network's, through MotionFusion, and a part
    of the stream (``emit_from``) is cleaned as in the whole run."""
    from vidclean.core.fusion import MotionFusion

    seq = list(frames(12, 40, 28))
    alone = [c for _, c in Denoiser(window=3, sigma=20, fusion=False).run(iter(seq))]
    d = Denoiser(window=3, sigma=20, fusion=(2, 2))
    out = list(d.run(iter(seq)))
    assert [f.index for f, _ in out] == list(range(12)) and d.frames_done == 12 and d.mean_sigma == 20
    f = MotionFusion(2, 2, d.fusion_flow)
    expected = [image for c in alone for _, image in f.push(c, 20)] + [image for _, image in f.flush()]
    assert all(np.array_equal(a, b) for (_, a), b in zip(out, expected))
    # only frames from 5 on emitted (the network cleans from 3, for the fusion): as in the whole
    # run (tests/test_segments.py cleans real files in parts)
    part = list(d.run(iter(seq), emit_from=5))
    assert [f.index for f, _ in part] == list(range(5, 12)) and d.frames_done == 7
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(part, out[5:]))


def test_quality_refines_its_fused_frames_and_gains_on_real_footage():
    """"quality" fused: each fused frame goes through the preset's refiner (with the noisy frames'
    mean along the motion), which gains on the bundled real clip; a part equals the whole run."""
    from conftest import SAMPLES

    from vidclean.io.clips import read_clip
    from vidclean.training.noise import add_gaussian

    clean = read_clip(SAMPLES / "foliage_clean.mp4", 10)[:, :240, :320]
    seq = [Frame(i, i, i / 25, f) for i, f in enumerate(add_gaussian(clean, 20, np.random.default_rng(0)))]
    d = Denoiser("quality", window=5, sigma=20, fusion=(2, 2))
    out = list(d.run(iter(seq), pixels=False))
    assert all(f.rgb is None for f, _ in out)  # kept for the refiner, not given back
    refiner, d.refiner = d.refiner, None
    fused = [c for _, c in d.run(iter(seq))]
    d.refiner = refiner
    score = lambda frames: np.mean([psnr(o, c) for o, c in zip(frames, clean)])  # noqa: E731
    # measured 30.12 against 29.09 dB (the fusion alone: this foliage defeats the flow)
    assert score([c for _, c in out]) > score(fused) + 0.5, (score([c for _, c in out]), score(fused))
    part = list(d.run(iter(seq), emit_from=6))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(part, out[6:])) and len(part) == 4


def test_only_a_fused_preset_with_a_refiner_refines_and_not_frames_told_no_noise():
    from vidclean.presets import weights_path

    assert Denoiser("balanced", sigma=20, fusion=(2, 2)).refiner is None
    assert Denoiser("quality", sigma=20, fusion=False).refiner is None
    # trained on the shipped network fused both ways: not for the live preview's fusion over
    # earlier frames only, nor with weights given
    assert Denoiser("quality", sigma=20, fusion=(2, 0)).refiner is None
    assert Denoiser("quality", sigma=20, fusion=(2, 2), weights=weights_path("quality")).refiner is None
    seq = list(frames(6, 40, 28))
    fused = Denoiser("quality", window=3, sigma=0, fusion=(2, 2))
    assert fused.refiner is not None
    alone = [c for _, c in Denoiser("quality", window=3, sigma=0, fusion=False).run(iter(seq))]
    assert all(np.array_equal(a, b) for (_, a), b in zip(fused.run(iter(seq)), alone))
