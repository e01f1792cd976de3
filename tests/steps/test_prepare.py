from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sigvision.config.load import config_from_dict
from sigvision.errors import InputFileError
from sigvision.io.runs import load_prepared, open_cached_images
from sigvision.steps.contact_sheet import contact_sheet_from_prepared
from sigvision.steps.prepare import prepare_dataset
from sigvision.synth.samples import sample_ecg_dir


def _sleep_cfg(root, **render):
    return config_from_dict({"name": "t", "data": {"root": str(root)},
                             "render": {"height": 48, "width": 48, **render}})


def test_prepare_sleep(synth_dir4, tmp_path):
    res = prepare_dataset(_sleep_cfg(synth_dir4), tmp_path / "p")
    idx, meta = load_prepared(tmp_path / "p")
    assert res.n_records == 4 and len(idx) == res.n_samples
    assert set(idx["subject"]) == {"SYN_SC400", "SYN_SC401"}
    for rec, g in idx.groupby("record"):
        assert g["epoch"].tolist() == list(range(len(g)))
        imgs = open_cached_images(tmp_path / "p", rec)
        sig = np.load(tmp_path / "p" / "signals" / f"{rec}.npy")
        assert imgs.shape == (len(g), 48, 48, 3) and imgs.dtype == np.uint8
        assert sig.shape == (len(g), 4, 3000)
    assert meta["summary"]["stage_counts"]["N2"] == int((idx["label"] == 2).sum())
    recs = pd.read_csv(tmp_path / "p" / "records.csv")
    assert {"source_size", "source_mtime", "n_epochs"} <= set(recs.columns)
    assert (tmp_path / "p" / "config.yaml").is_file()
    assert not list((tmp_path / "p").rglob(".*.tmp")) and not list((tmp_path / "p").rglob(".*.npy"))
    sheet = contact_sheet_from_prepared(tmp_path / "p", per_group=3)
    assert sheet.ndim == 3 and sheet.shape[1] == 3 * (48 + 4) + 4


def test_refuses_non_empty_output_unless_overwrite(synth_dir, tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "keep.txt").write_text("results")
    with pytest.raises(InputFileError, match="--overwrite"):
        prepare_dataset(_sleep_cfg(synth_dir), out)
    assert (out / "keep.txt").read_text() == "results"  # nothing lost
    prepare_dataset(_sleep_cfg(synth_dir), out, overwrite=True)
    assert not (out / "keep.txt").exists()


def test_cache_key_follows_render_config(synth_dir, tmp_path):
    a = prepare_dataset(_sleep_cfg(synth_dir), tmp_path / "a")
    b = prepare_dataset(_sleep_cfg(synth_dir, width=40), tmp_path / "b")
    assert a.cache_dir.name != b.cache_dir.name


def test_prepare_ecg_real_sample(tmp_path):
    cfg = config_from_dict({"name": "e", "data": {"task": "ecg", "format": "wfdb", "root": str(sample_ecg_dir()),
                                                  "fs_hz": 250.0, "ecg_length_s": 10.0},
                            "render": {"name": "ecg_6x2", "height": 120, "width": 160}})
    res = prepare_dataset(cfg, tmp_path / "e")
    idx, meta = load_prepared(tmp_path / "e")
    assert res.n_records == 35
    assert sorted(set(idx["source_db"])) == ["E", "HR", "JS"]
    assert meta["summary"]["label_counts"]["426783006"] == 10  # NSR, shared README
    assert np.load(tmp_path / "e" / "signals" / "E07500.npy").shape == (12, 2500)
    assert open_cached_images(tmp_path / "e", "E07500").shape == (120, 160, 3)
    e = idx.set_index("record").loc["E07500"]
    assert e["age"] == 78 and e["sex"] == "M" and e["labels"] == "67741000119109;426177001"


def test_prepare_image_folder(tmp_path):
    import cv2

    for s in ("a", "b"):
        (tmp_path / "img" / s).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(tmp_path / "img" / s / f"{i}.png"), np.full((50, 70, 3), 40 * i, np.uint8))
    (tmp_path / "l.csv").write_text("".join(f"{s},{i}.png,{'W N1 N2 R'.split()[i]}\n" for s in "ab" for i in range(4)))
    cfg = config_from_dict({"data": {"format": "image_folder", "root": str(tmp_path / "img"),
                                     "labels_csv": str(tmp_path / "l.csv")},
                            "render": {"height": 32, "width": 32}})
    prepare_dataset(cfg, tmp_path / "p")
    idx, _ = load_prepared(tmp_path / "p")
    assert idx["label"].tolist() == [0, 1, 2, 4] * 2 and idx["file"].tolist()[:2] == ["0.png", "1.png"]
    imgs = open_cached_images(tmp_path / "p", "b")
    assert imgs.shape == (4, 32, 32, 3) and imgs[3].mean() == pytest.approx(120, abs=1)


def test_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="no recordings"):
        prepare_dataset(_sleep_cfg(tmp_path), tmp_path / "out")


def test_update_rebuilds_only_partial_or_stale_entries(synth_dir4, tmp_path):
    import os
    import shutil

    src = tmp_path / "src"
    shutil.copytree(synth_dir4, src)
    cfg = _sleep_cfg(src)
    prepare_dataset(cfg, tmp_path / "p")
    cache = next((tmp_path / "p" / "cache").iterdir())
    files = sorted(cache.glob("*.npy"))
    mtimes = {f.name: f.stat().st_mtime_ns for f in files}
    # a truncated cache entry and a touched source file
    files[0].write_bytes(files[0].read_bytes()[:200])
    touched = sorted(src.glob("*-PSG.edf"))[1]
    os.utime(touched, (touched.stat().st_atime, touched.stat().st_mtime + 10))
    before, _ = load_prepared(tmp_path / "p")
    res = prepare_dataset(cfg, tmp_path / "p", update=True)
    after, _ = load_prepared(tmp_path / "p")
    assert len(after) == len(before) and res.n_records == 4
    new = {f.name: f.stat().st_mtime_ns for f in sorted(cache.glob("*.npy"))}
    rebuilt = {n for n in new if new[n] != mtimes[n]}
    assert rebuilt == {files[0].name, touched.name.replace("-PSG.edf", ".npy")}
    assert open_cached_images(tmp_path / "p", files[0].stem).shape[1:] == (48, 48, 3)
    # a different render config gets a new cache key; the old cache is dropped
    prepare_dataset(_sleep_cfg(src, width=40), tmp_path / "p", update=True)
    assert [p.name for p in (tmp_path / "p" / "cache").iterdir()] != [cache.name]


def _as_old_hwc_folder(folder):
    """Rewrite a prepared folder as an older version left it: (n, H, W, 3) cache files and no
    cache_layout in prepare.json. Returns (cache folder, {file name: its planar array})."""
    import json

    cache = next((folder / "cache").iterdir())
    planar = {f.name: np.load(f) for f in cache.glob("*.npy")}
    for name, arr in planar.items():
        np.save(cache / name, np.ascontiguousarray(arr.transpose(0, 2, 3, 1)))
    meta = json.loads((folder / "prepare.json").read_text())
    del meta["cache_layout"]
    (folder / "prepare.json").write_text(json.dumps(meta))
    return cache, planar


def test_update_rebuilds_a_cache_of_the_old_hwc_layout(synth_dir4, tmp_path):
    """A folder prepared before the cache was planar (no cache_layout, (n, H, W, 3) files) is
    rebuilt whole by --update, not mixed with planar entries."""
    cfg = _sleep_cfg(synth_dir4)
    prepare_dataset(cfg, tmp_path / "p")
    cache, planar = _as_old_hwc_folder(tmp_path / "p")
    prepare_dataset(cfg, tmp_path / "p", update=True)
    assert load_prepared(tmp_path / "p")[1]["cache_layout"] == "chw"
    for name, arr in planar.items():
        np.testing.assert_array_equal(np.load(cache / name), arr)


def test_update_does_not_reuse_old_layout_files_left_by_an_update_without_cache(synth_dir4, tmp_path):
    """An old (H, W, 3) cache survives 'prepare --update' with cache_images off (same config
    hash, so its folder is kept) while prepare.json now says chw; a later --update with the
    cache back on must rebuild those files, not take them as planar ones."""
    def cfg(cache_images):
        return config_from_dict({"name": "t", "data": {"root": str(synth_dir4)},
                                 "render": {"height": 48, "width": 48},
                                 "prepare": {"cache_images": cache_images}})

    prepare_dataset(cfg(True), tmp_path / "p")
    cache, planar = _as_old_hwc_folder(tmp_path / "p")
    prepare_dataset(cfg(False), tmp_path / "p", update=True)
    prepare_dataset(cfg(True), tmp_path / "p", update=True)
    for name, arr in planar.items():
        np.testing.assert_array_equal(np.load(cache / name), arr)


def test_prepare_aiwin_and_hefei_formats(tmp_path):
    import scipy.io

    rng = np.random.default_rng(0)
    (tmp_path / "aiwin").mkdir()
    for i in range(3):
        scipy.io.savemat(tmp_path / "aiwin" / f"r{i}.mat", {"ecgdata": rng.normal(0, 0.2, (12, 5000))})
    (tmp_path / "aiwin.csv").write_text("name,tag\nr0,0\nr1,1\nr2,1\n")
    cfg = config_from_dict({"data": {"task": "ecg", "format": "aiwin", "root": str(tmp_path / "aiwin"),
                                     "labels_csv": str(tmp_path / "aiwin.csv"), "fs_hz": 250.0,
                                     "label_set": "present"},
                            "render": {"name": "ecg_stack", "height": 64, "width": 64}})
    prepare_dataset(cfg, tmp_path / "pa")
    idx, _ = load_prepared(tmp_path / "pa")
    assert idx["record"].tolist() == ["r0", "r1", "r2"] and idx["labels"].astype(str).tolist() == ["0", "1", "1"]
    assert np.load(tmp_path / "pa" / "signals" / "r1.npy").shape == (12, 2500)

    (tmp_path / "hefei").mkdir()
    for i in range(2):
        body = "\n".join(" ".join(str(int(v)) for v in row) for row in rng.integers(-200, 200, (5000, 8)))
        (tmp_path / "hefei" / f"{i}.txt").write_text("I II V1 V2 V3 V4 V5 V6\n" + body + "\n")
    (tmp_path / "hefei_labels.txt").write_text("0.txt\tsinus\n1.txt\tAF\tPVC\n")
    cfg = config_from_dict({"data": {"task": "ecg", "format": "hefei", "root": str(tmp_path / "hefei"),
                                     "labels_csv": str(tmp_path / "hefei_labels.txt"), "fs_hz": 500.0,
                                     "label_set": "present"},
                            "render": {"name": "ecg_6x2", "height": 64, "width": 64}})
    prepare_dataset(cfg, tmp_path / "ph")
    idx, _ = load_prepared(tmp_path / "ph")
    assert idx["labels"].tolist() == ["sinus", "AF;PVC"]
    sig = np.load(tmp_path / "ph" / "signals" / "1.npy")
    np.testing.assert_allclose(sig[2], sig[1] - sig[0], atol=1e-5)  # III = II - I derived


def test_prepare_hefei_label_table_with_age_and_sex(tmp_path):
    """The contest's label file is '<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...': age and sex
    reach the index (and a model's meta features), only the labels reach 'labels'."""
    import torch

    from sigvision.models.factory import build_model, meta_vector
    from sigvision.train.data import make_dataset

    rng = np.random.default_rng(1)
    (tmp_path / "hefei").mkdir()
    for i in range(4):
        body = "\n".join(" ".join(str(int(v)) for v in row) for row in rng.integers(-200, 200, (500, 8)))
        (tmp_path / "hefei" / f"{i}.txt").write_text("I II V1 V2 V3 V4 V5 V6\n" + body + "\n")
    (tmp_path / "hf_round1_label.txt").write_text(
        "0.txt\t40\tFEMALE\t窦性心律\t电轴左偏\n"
        "1.txt\t\tMALE\t心房颤动\n"          # age missing
        "2.txt\t72\t\t窦性心律\t\n"          # sex missing, trailing tab
        "3.txt\t8\tMALE\tT波改变\n", encoding="utf-8")
    cfg = config_from_dict({"data": {"task": "ecg", "format": "hefei", "root": str(tmp_path / "hefei"),
                                     "labels_csv": str(tmp_path / "hf_round1_label.txt"), "fs_hz": 500.0,
                                     "ecg_length_s": 1.0, "label_set": "present"},
                            "prepare": {"cache_images": False}})
    prepare_dataset(cfg, tmp_path / "p")
    idx, meta = load_prepared(tmp_path / "p")
    assert idx["record"].astype(str).tolist() == ["0", "1", "2", "3"]
    assert idx["labels"].tolist() == ["窦性心律;电轴左偏", "心房颤动", "窦性心律", "T波改变"]
    assert idx["sex"].tolist() == ["F", "M", "", "M"]
    ages = pd.to_numeric(idx["age"], errors="coerce")
    assert ages.iloc[[0, 2, 3]].tolist() == [40.0, 72.0, 8.0] and np.isnan(ages.iloc[1])
    assert set(meta["summary"]["label_counts"]) == {"窦性心律", "电轴左偏", "心房颤动", "T波改变"}

    ds = make_dataset("signal", tmp_path / "p", idx, meta_features=("age", "sex"))
    missing = meta_vector(("age", "sex"), None, None)
    np.testing.assert_allclose(ds.meta, [[0.40, 0, 0, 1, 0], [0, 1, 1, 0, 0], [0.72, 0, 0, 0, 1],
                                         [0.08, 0, 1, 0, 0]], atol=1e-6)
    assert not any(np.allclose(row, missing) for row in ds.meta)
    x, _, m = ds[np.arange(4)]
    torch.manual_seed(0)
    model = build_model(config_from_dict({"model": {"name": "resnet1d_tiny", "meta_features": ["age", "sex"]}}).model,
                        num_classes=4, in_chans=12).eval()
    with torch.no_grad():
        out = model(x, meta=m)
        out_missing = model(x, meta=torch.tensor([missing] * 4, dtype=torch.float32))
    assert not torch.allclose(out, out_missing)

    # a folder prepared by the earlier reader (age and sex taken as labels) is refused for training
    from sigvision.train.data import load_training_index

    old = pd.read_csv(tmp_path / "p" / "index.csv", keep_default_na=False)
    old["labels"] = ["40;FEMALE;窦性心律;电轴左偏", "MALE;心房颤动", "72;窦性心律", "8;MALE;T波改变"]
    old.to_csv(tmp_path / "p" / "index.csv", index=False)
    with pytest.raises(InputFileError, match="before the Hefei table's age and sex columns were read.*--overwrite"):
        load_training_index(replace(cfg, prepared_dir=str(tmp_path / "p")))
