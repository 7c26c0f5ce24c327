"""Windowing, the split by recording, normalization, augmentation."""
import numpy as np
import pytest

from hostutil import make_folder_dataset
from microformer import data as D
from microformer.errors import DataError


def test_frame_counts_and_hops():
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    w = D.frame(x, 10, 5)
    assert w.shape == (4, 10, 2)
    assert w[1, 0, 0] == x[5, 0] and w[3, -1, 1] == x[24, 1]
    assert D.frame(x, 26, 1).shape == (0, 26, 2)
    assert D.n_windows(25, 25, 7) == 1


def test_split_is_by_recording_and_deterministic(synth_dir):
    ds = D.load(synth_dir)
    a = D.split_units(ds, seed=3)
    b = D.split_units(D.load(synth_dir), seed=3)
    names = {s: [u.name for u in a[s]] for s in D.SPLITS}
    assert names == {s: [u.name for u in b[s]] for s in D.SPLITS}
    all_names = sum(names.values(), [])
    assert len(all_names) == len(set(all_names)) == len(ds.recordings)
    for s in D.SPLITS:  # every label in every split
        assert {u.label for u in a[s]} == set(range(len(ds.labels)))
    c = D.split_units(ds, seed=4)
    assert any([u.name for u in c[s]] != names[s] for s in D.SPLITS)


def test_no_window_shares_samples_across_splits(stream_csv):
    ds = D.load(stream_csv)
    parts = D.split_units(ds, seed=0)
    spans = {s: [(u.recording, u.start, u.stop) for u in parts[s]] for s in D.SPLITS}
    for s1 in D.SPLITS:
        for s2 in D.SPLITS:
            if s1 >= s2:
                continue
            for r1, a1, b1 in spans[s1]:
                for r2, a2, b2 in spans[s2]:
                    assert r1 != r2 or b1 <= a2 or b2 <= a1
    x, y, uid = D.unit_windows(ds, parts["train"], 32, 16)
    for k in np.unique(uid):  # windows stay inside their unit
        u = parts["train"][k]
        n = D.n_windows(u.stop - u.start, 32, 16)
        assert (uid == k).sum() == n


def test_label_with_too_few_recordings(tmp_path):
    root = make_folder_dataset(tmp_path / "d", labels=("a", "b"), n_rec=3)
    (tmp_path / "d" / "b" / "r2.csv").unlink()
    with pytest.raises(DataError, match="label 'b' has 2 recordings; .* at least 3"):
        D.make_splits(D.load(root), 16, 8, 0)


def test_window_longer_than_recordings(tmp_path):
    ds = D.load(make_folder_dataset(tmp_path / "d", n=40))
    with pytest.raises(DataError, match="window 64 is longer than every recording .* 40 samples"):
        D.make_splits(ds, 64, 32, 0)
    with pytest.raises(DataError, match="window 64 is longer than every recording"):
        D.recording_windows(ds, 64, 32)


def test_normalization_fit_on_training_windows(rng):
    x = rng.normal([1.0, -2.0, 5.0], [2.0, 0.5, 0.0], size=(20, 16, 3)).astype(np.float32)
    mean, std = D.fit_normalization(x)
    assert np.allclose(mean, [1.0, -2.0, 5.0], atol=0.3)
    assert np.allclose(std[:2], [2.0, 0.5], rtol=0.15)
    assert std[2] == 1.0  # constant channel: left unscaled instead of dividing by 0


def test_default_window_follows_rate_and_recording_length(synth_dir, tmp_path):
    ds = D.load(synth_dir)  # 50 Hz, 5-7 s recordings
    assert D.default_window(ds) == 96
    short = D.load(make_folder_dataset(tmp_path / "d", n=40))
    assert D.default_window(short) == 16


@pytest.mark.parametrize("spec, want", [
    ("jitter", {"jitter": 0.05}),
    ("jitter=0.2,time-warp", {"jitter": 0.2, "time-warp": 0.2}),
    ("none", {}),
    ("all", {k: v[0] for k, v in D.AUGMENTS.items() if k != "shift"}),
    ("channel_dropout=0.5", {"channel-dropout": 0.5}),
    ("shift=0.25", {"shift": 0.25}),
])
def test_parse_augment(spec, want):
    assert D.parse_augment(spec) == want


def test_all_adds_the_shift_for_events_only():
    assert D.parse_augment("all", events=True) == {k: v[0] for k, v in D.AUGMENTS.items()}
    assert "shift" in D.parse_augment("auto", events=True)
    assert "shift" not in D.parse_augment("auto", events=False)
    # Asked by name, a stream gets it too.
    assert D.parse_augment("shift", events=False) == {"shift": 0.1}
    # train says so when it adds it.
    x = np.zeros((8, 20, 1), np.float32)
    y = np.arange(8) % 2
    for spec in ("all", "auto"):
        aug, lines = D.resolve_augment(spec, x, y, [0.0], [1.0], events=True)
        assert aug["shift"] == 0.1 and any(ln.startswith("augmentation: shift 0.1 (events") for ln in lines)
        assert not any("shift" in ln for ln in D.resolve_augment(spec, x, y, [0.0], [1.0])[1])


@pytest.mark.parametrize("spec", ["wobble", "jitter=abc", "channel-dropout=2", "shift=0.6"])
def test_parse_augment_errors(spec):
    with pytest.raises(DataError):
        D.parse_augment(spec)


def test_each_augmentation_changes_windows_as_described(rng):
    t = np.linspace(0, 4 * np.pi, 64)
    x = np.stack([np.sin(t), np.cos(t), 3 + 0 * t], 1)[None].repeat(50, 0).astype(np.float32)
    mean, std = np.array([0, 0, 3.0]), np.array([0.7, 0.7, 1.0])
    j = D.augment(x, {"jitter": 0.1}, mean, std, rng)
    assert abs(np.std(j - x) - 0.1 * np.sqrt(np.mean(std ** 2))) < 0.02
    s = D.augment(x, {"scaling": 0.2}, mean, std, rng)
    gains = (s[:, :, 0] / np.where(x[:, :, 0] == 0, 1, x[:, :, 0]))[:, 5]
    assert 0.05 < np.std(gains) < 0.4 and np.allclose(s[:, :, 2], 3.0)  # scaled around the mean
    w = D.augment(x, {"time-warp": 0.3}, mean, std, rng)
    assert w.shape == x.shape and not np.allclose(w, x)
    assert np.allclose(w[:, 0], x[:, 0]) and np.allclose(w[:, -1], x[:, -1], atol=1e-5)
    d = D.augment(x, {"channel-dropout": 0.5}, mean, std, rng)
    dropped = np.all(d == mean[None, None, :], axis=1)
    assert 0.2 < dropped[:, :2].mean() < 0.8
    assert D.augment(x, {}, mean, std, rng) is x


def test_shift_moves_each_example_and_repeats_its_edges(rng):
    n, w = 400, 40
    ramp = np.arange(w, dtype=np.float32)
    x = np.stack([ramp, -ramp], 1)[None].repeat(n, 0)
    s = D.augment(x, {"shift": 0.1}, [0.0, 0.0], [1.0, 1.0], rng)
    # Inside, sample t is sample t - d of the ramp for one d per example, both channels alike.
    d = ramp[w // 2] - s[:, w // 2, 0]
    assert set(np.unique(d).astype(int)) == set(range(-4, 5))  # +-0.1 * 40 samples, all drawn
    for i in range(n):
        want = np.clip(ramp - d[i], 0, w - 1)
        assert np.array_equal(s[i, :, 0], want) and np.array_equal(s[i, :, 1], -want)


def test_mixup_mixes_examples_labels_and_weights_alike(rng):
    n, classes = 200, 3
    x = rng.normal(size=(n, 16, 2)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[np.arange(n) % classes]
    w = rng.uniform(0.5, 2.0, n).astype(np.float32)
    xm, ym, wm = D.mixup(x, y, w, 0.2, np.random.default_rng(5))
    # Replay the draws: each example is lam * itself + (1 - lam) * its partner, lam >= 0.5.
    r = np.random.default_rng(5)
    lam = r.beta(0.2, 0.2, size=n)
    lam = np.maximum(lam, 1 - lam)
    other = r.permutation(n)
    np.testing.assert_allclose(xm, lam[:, None, None] * x + (1 - lam[:, None, None]) * x[other],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wm, lam * w + (1 - lam) * w[other], rtol=1e-5)
    np.testing.assert_allclose(ym.sum(1), 1.0, rtol=1e-6)
    # The example keeps the larger part of its own label; Beta(0.2, 0.2) mixes mostly a little.
    assert np.all(ym[np.arange(n), np.arange(n) % classes] >= 0.5 - 1e-6)
    assert 0.5 < np.mean(lam > 0.9) < 1.0
    assert xm.dtype == np.float32 and xm.shape == x.shape


def test_recordings_shorter_than_the_window_are_reported(tmp_path):
    root = make_folder_dataset(tmp_path / "d", n_rec=8, n=64)
    (tmp_path / "d" / "a" / "r0.csv").write_text("x,y\n" + "1,2\n" * 10)
    ds = D.load(root)
    seed = next(s for s in range(50)
                if "a/r0.csv" in [u.name for u in D.split_units(ds, s)["train"]])
    sp = D.make_splits(ds, 16, 8, seed)
    assert sp.short == ["a/r0.csv"]
    assert len(sp.y["train"]) == 11 * 7  # 6 + 6 training recordings minus the short one
