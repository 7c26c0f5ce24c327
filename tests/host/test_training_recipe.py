"""The small-data recipe's decisions (no training): step-budget schedule, refit, the honest
warnings with their numbers, and option conflicts."""
import numpy as np
import pytest

from microformer import data as D
from microformer import training
from microformer.errors import MicroformerError


def test_schedule_scales_epochs_to_the_data():
    o = training.resolve({})
    # 36 examples, batch 16: 3 steps per epoch -> 500 epochs for ~1500 steps.
    assert training.schedule(36, o) == (16, 500, 3)
    # Thousands of windows: batch 32 and the minimum epoch count.
    b, e, s = training.schedule(3000, o)
    assert b == 32 and e == training.MIN_EPOCHS and s == 94
    # Tiny sets are capped; explicit options win.
    assert training.schedule(2, o)[1] == training.MAX_EPOCHS
    assert training.schedule(36, training.resolve({"epochs": 7, "batch": 4})) == (4, 7, 9)


def test_defaults_and_conflicts():
    o = training.resolve({})
    assert o["arch"] == "convformer" and o["layers"] == 1 and o["patience"] is None
    assert training.resolve({"qat": True})["arch"] == "transformer"
    assert training.resolve({"arch": "transformer"})["layers"] == 2
    with pytest.raises(MicroformerError, match="--qat needs --arch transformer or hybrid"):
        training.resolve({"qat": True, "arch": "convformer"})
    with pytest.raises(MicroformerError, match="--events"):
        training.resolve({"events": True, "window": 32})
    with pytest.raises(MicroformerError, match=r"test fraction must be in \[0, 0.5\], got 0.7"):
        training.resolve({"test_fraction": 0.7})


def test_fit_warnings_name_the_numbers():
    labels = ["a", "b", "c", "d"]
    w = training.fit_warnings(labels, 0.99, 0.30)
    assert any("validation accuracy 30.0% is near chance (25.0% for 4 labels)" in m for m in w)
    assert any("training accuracy 99.0% is far above validation 30.0%" in m for m in w)
    assert training.fit_warnings(labels, 0.95, 0.90) == []
    assert training.fit_warnings(labels, 0.95, float("nan")) == []


def _ds(counts, lengths=None):
    recs = []
    for k, (lab, n) in enumerate(counts.items()):
        for i in range(n):
            L = (lengths or {}).get(lab, 40)
            x = np.zeros((L, 1), np.float32) + i + 100 * k
            recs.append(D.Recording(f"{lab}/{i}.csv", x, label=lab))
    return D.Dataset("DATA", "folder", ["x"], sorted(counts), recs)


def test_data_warnings_imbalance_few_val_and_lengths():
    ds = _ds({"a": 12, "b": 3}, lengths={"a": 40, "b": 400})
    sp = D.make_splits(ds, 40, 40, 0, event={"length": 40, "fit": "pad"})
    w = training.data_warnings(ds, sp)
    assert any("validation split has 3 examples (fewer than 20)" in m for m in w)
    assert any("classes are imbalanced: 'a' has 8 training examples, 'b' 1" in m for m in w)
    assert any("recording lengths differ wildly (40 to 400 samples)" in m for m in w)


def test_test_fraction_zero_keeps_every_recording_for_training():
    ds = _ds({"a": 5, "b": 5})
    sp = D.make_splits(ds, 40, 40, 0, event={"length": 40, "fit": "pad"}, test_fraction=0)
    assert len(sp.y["test"]) == 0 and len(sp.y["train"]) + len(sp.y["val"]) == 10
    with pytest.raises(D.DataError, match="'b' has 1 recordings; splitting by recording needs "
                                          "at least 2 .train, validation."):
        D.split_units(_ds({"a": 5, "b": 1}), 0, test_fraction=0)


def test_constant_channels_are_refused_only_when_all_are():
    ds = _ds({"a": 3, "b": 3})
    for r in ds.recordings:
        r.data = np.full_like(r.data, 2.0)
    with pytest.raises(D.DataError, match="every channel is constant over all 6 recordings"):
        D.check_channels_vary(ds)


def test_fingerprints_find_training_recordings():
    ds = _ds({"a": 4, "b": 4})
    units = ds.units()
    fps = D.fingerprints(ds, units[:3])
    assert len(fps) == 24
    assert D.overlap(ds, fps) == [u.name for u in units[:3]]
    assert D.overlap(ds, "") == []


def test_rotate_turns_each_sensor_triplet_rigidly():
    assert D.rotation_groups(["t", "ax", "ay", "az", "gyro_x", "gyro_y", "gyro_z", "temp"]) == \
        [(1, 2, 3), (4, 5, 6)]
    assert D.rotation_groups(["ch0", "x", "y"]) == []
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 20, 7)).astype(np.float32)
    y = D.augment(x, {"rotate": 30.0}, [0.0] * 7, [1.0] * 7, rng, [(0, 1, 2), (3, 4, 5)])
    for g in ([0, 1, 2], [3, 4, 5]):
        np.testing.assert_allclose(np.linalg.norm(y[:, :, g], axis=2),
                                   np.linalg.norm(x[:, :, g], axis=2), rtol=1e-5)
    assert not np.allclose(y[:, :, :6], x[:, :, :6])
    assert (y[:, :, 6] == x[:, :, 6]).all()
    # The angle between a vector and its rotated self stays within the strength.
    cos = (y[:, :, :3] * x[:, :, :3]).sum(2) / np.linalg.norm(x[:, :, :3], axis=2) ** 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() <= 30.0 + 1e-3


def _tones(rng, n, length=256):
    """Two classes told apart by a fast rhythm (80 vs 90 periods per example, as mains-driven
    power signals are): a local speed change of even 5% moves it by whole periods."""
    t = np.arange(length) / length
    y = np.arange(n) % 2
    f = np.where(y == 0, 80.0, 90.0)[:, None]
    x = np.sin(2 * np.pi * f * t) + 0.3 * rng.normal(size=(n, length))
    return x[:, :, None].astype(np.float32), y


def _bumps(rng, n, length=128):
    """Two classes told apart by where a wide bump sits (a quarter vs three quarters in)."""
    t = np.arange(length) / length
    y = np.arange(n) % 2
    c = np.where(y == 0, 0.25, 0.75)[:, None]
    x = np.exp(-((t - c) / 0.08) ** 2) + 0.05 * rng.normal(size=(n, length))
    return x[:, :, None].astype(np.float32), y


def test_auto_augment_drops_what_blurs_the_classes():
    rng = np.random.default_rng(0)
    # Rhythm classes: time-warp goes at every strength; noise and gain leave the rhythm alone.
    x, y = _tones(rng, 40)
    mean, std = D.fit_normalization(x)
    aug, lines = D.resolve_augment("auto", x, y, mean, std, seed=0)
    assert "time-warp" not in aug and aug["jitter"] == 0.05 and aug["scaling"] == 0.1
    # Neither a single channel nor channels without x/y/z triplets can use these two.
    assert "channel-dropout" not in aug and "rotate" not in aug
    warp = [m for m in lines if m.startswith("augmentation: time-warp off")]
    assert len(warp) == 1 and "0.2: " in warp[0] and "0.05: " in warp[0]
    # Position classes survive a little warping: kept at full strength.
    x, y = _bumps(rng, 40)
    mean, std = D.fit_normalization(x)
    aug, lines = D.resolve_augment("auto", x, y, mean, std, seed=0)
    assert aug["time-warp"] == 0.2 and len(lines) == 3
    # Asked for by name (or "all"): used as asked, nothing measured.
    assert D.resolve_augment("all", x, y, mean, std) == (D.parse_augment("all"), [])
    assert D.resolve_augment("time-warp", x, y, mean, std) == ({"time-warp": 0.2}, [])


def test_auto_augment_keeps_everything_when_1nn_sees_nothing():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 64, 1)).astype(np.float32)
    y = np.arange(30) % 3
    mean, std = D.fit_normalization(x)
    aug, lines = D.resolve_augment("auto", x, y, mean, std)
    assert aug["time-warp"] == 0.2 and "near chance" in lines[0]


def test_event_length_rounds_for_the_stem():
    # Below 64 samples: a multiple of 8; above, the nearest multiple of 64 (pad: the next).
    assert [D.event_length(q) for q in (5, 24, 41, 251, 427, 1460)] == [8, 24, 48, 256, 448, 1024]
    assert D.event_length(257) == 256 and D.event_length(257, up=True) == 320
