"""Dataset loading: both formats, time column, and the clear errors for bad input."""

import numpy as np
import pytest

from hostutil import make_folder_dataset, run_cli, write_csv
from microformer import data as D
from microformer.errors import DataError


def test_folder_format(tmp_path):
    root = make_folder_dataset(tmp_path / "d", labels=("b", "a"), n_rec=3, n=50)
    ds = D.load(root)
    assert ds.kind == "folder"
    assert ds.labels == ["a", "b"]
    assert ds.channels == ["x", "y"]
    assert len(ds.recordings) == 6
    assert all(r.data.shape == (50, 2) and r.data.dtype == np.float32 for r in ds.recordings)
    assert ds.sample_rate is None


def test_time_column_is_not_a_channel_and_gives_the_rate(tmp_path):
    rows = [[i * 0.02, i, -i] for i in range(40)]
    for lab in ("a", "b"):
        for k in range(3):
            write_csv(str(tmp_path / lab / f"{k}.csv"), ["time", "ax", "ay"], rows)
    ds = D.load(str(tmp_path))
    assert ds.channels == ["ax", "ay"]
    assert ds.sample_rate == pytest.approx(50.0)
    assert D.load(str(tmp_path), sample_rate=100).sample_rate == 100


def test_stream_format_file_and_runs(stream_csv):
    ds = D.load(stream_csv)
    assert ds.kind == "stream"
    assert ds.labels == ["idle", "run", "stairs", "walk"]
    assert ds.channels == ["ax", "ay", "az", "gx", "gy", "gz"]
    units = ds.units()
    # 4 labels x 4 sessions written back to back in random order: runs are label changes.
    assert len(units) <= 16 and len(units) >= 4
    for u in units:
        lab = ds.recordings[u.recording].sample_labels[u.start:u.stop]
        assert (lab == u.label).all()


def test_stream_folder_of_several_csvs(tmp_path):
    for f in ("s1.csv", "s2.csv"):
        rows = [[i, ("a" if (i // 10) % 2 else "b")] for i in range(60)]
        write_csv(str(tmp_path / f), ["x", "label"], rows)
    ds = D.load(str(tmp_path))
    assert ds.kind == "stream" and len(ds.recordings) == 2 and ds.labels == ["a", "b"]


def test_windows_take_the_majority_label(tmp_path):
    lab = ["a"] * 7 + ["b"] * 13
    write_csv(str(tmp_path / "s.csv"), ["x", "label"], [[i, l] for i, l in enumerate(lab)])
    ds = D.load(str(tmp_path / "s.csv"))
    x, y, _ = D.recording_windows(ds, 10, 5)
    # windows [0,10) a7/b3 -> a; [5,15) a2/b8 -> b; [10,20) -> b
    assert [ds.labels[i] for i in y] == ["a", "b", "b"]
    assert x[:, :, 0].tolist()[1] == list(range(5, 15))


@pytest.mark.parametrize("setup, message", [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("empty_label", "contain no .csv recordings"),
    ("ragged", "line 3: ragged row with 1 fields, the header has 2"),
    ("nonnumeric", "line 2, column 'y': 'abc' is not a number"),
    ("nan", "non-finite value"),
    ("header_only", "header only"),
    ("channels_differ", "differ from"),
    ("stream_without_label", "no 'label' column"),
    ("time_backwards", "does not increase"),
])
def test_bad_data_errors(tmp_path, setup, message):
    root = tmp_path / "d"
    if setup == "missing":
        pass
    elif setup == "empty":
        root.mkdir()
    elif setup == "empty_label":
        make_folder_dataset(root, n_rec=3)
        (root / "c").mkdir()
    else:
        make_folder_dataset(root, n_rec=3)
        bad = root / "a" / "r0.csv"
        text = {
            "ragged": "x,y\n1,2\n3\n",
            "nonnumeric": "x,y\n1,abc\n",
            "nan": "x,y\n1,2\nnan,3\n",
            "header_only": "x,y\n",
            "channels_differ": "x,z\n1,2\n",
            "time_backwards": "t,x,y\n0,1,2\n1,1,2\n0.5,1,2\n",
        }.get(setup)
        if setup == "stream_without_label":
            root = tmp_path / "s.csv"
            text = "x,y\n1,2\n"
            bad = root
        bad.write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        D.load(str(root))


def test_cli_reports_bad_data_as_microformer_error(tmp_path, capsys):
    root = make_folder_dataset(tmp_path / "d", n_rec=3)
    (tmp_path / "d" / "a" / "r1.csv").write_text("x,y\n1,2\n3\n")
    code, out, err = run_cli(capsys, "train", root, "--out", str(tmp_path / "m.keras"), "--quiet")
    assert code == 1
    assert err.startswith("microformer: ") and "ragged" in err and "r1.csv" in err


def test_align_channels_reorders_by_name_and_rejects_mismatch(tmp_path):
    root = make_folder_dataset(tmp_path / "d", channels=("x", "y"))
    ds = D.load(root)
    before = ds.recordings[0].data.copy()
    D.align_channels(ds, ["y", "x"])
    assert np.array_equal(ds.recordings[0].data, before[:, ::-1])
    with pytest.raises(DataError, match="has 2 channels .* expects 3"):
        D.align_channels(D.load(root), ["x", "y", "z"])
    with pytest.raises(DataError, match="missing \\['z'\\]"):
        D.align_channels(D.load(root), ["x", "z"])


def test_align_labels_rejects_unknown(tmp_path):
    ds = D.load(make_folder_dataset(tmp_path / "d", labels=("a", "q")))
    with pytest.raises(DataError, match="label\\(s\\) \\['q'\\] the model does not know"):
        D.align_labels(ds, ["a", "b"])
