"""The synthetic IMU dataset generator."""
import numpy as np

from microformer import data as D
from microformer import synth


def test_folder_layout_and_determinism(tmp_path):
    a = synth.generate(str(tmp_path / "a"), recordings_per_label=2, seconds=(3, 4), seed=5)
    b = synth.generate(str(tmp_path / "b"), recordings_per_label=2, seconds=(3, 4), seed=5)
    da, db = D.load(a), D.load(b)
    assert da.labels == sorted(synth.LABELS) and da.channels == list(synth.CHANNELS)
    assert da.sample_rate == synth.RATE
    assert len(da.recordings) == 8
    for ra, rb in zip(da.recordings, db.recordings):
        assert np.array_equal(ra.data, rb.data)
        assert 150 <= len(ra.data) <= 200
    c = D.load(synth.generate(str(tmp_path / "c"), recordings_per_label=2, seconds=(3, 4), seed=6))
    assert not np.array_equal(c.recordings[0].data, da.recordings[0].data)


def test_classes_are_physically_plausible(tmp_path):
    ds = D.load(synth.generate(str(tmp_path / "d"), recordings_per_label=3, seconds=(10, 10), seed=0))
    energy = {}
    for r in ds.recordings:
        acc = r.data[:, :3]
        assert 8.5 < np.linalg.norm(acc.mean(0)) < 11  # gravity dominates the mean
        energy.setdefault(r.label, []).append(np.std(acc, axis=0).sum())
    m = {k: np.mean(v) for k, v in energy.items()}
    assert m["idle"] < m["walk"] < m["run"]


def test_stream_has_label_column(tmp_path):
    p = synth.generate(str(tmp_path / "s.csv"), recordings_per_label=1, seconds=(2, 2), stream=True)
    ds = D.load(p)
    assert ds.kind == "stream" and ds.labels == sorted(synth.LABELS)
    assert len(ds.units()) == 4
