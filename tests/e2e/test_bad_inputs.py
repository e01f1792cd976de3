"""The bad-input catalogue: every malformed input gives one line naming the file, what is
wrong and the fix, exit code 2 from the CLI, no traceback, and nothing half-written."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from sigvision.cli import main
from sigvision.synth.samples import sample_ecg_dir

from tests.conftest import START, write_test_edf, write_test_hypnogram
from tests.paths import REPO

NAMES = ["Fpz-Cz", "Pz-Oz", "EOG horizontal", "EMG submental"]


def _sig(n_epochs, fs=100.0):
    t = np.arange(int(n_epochs * 30 * fs)) / fs
    return np.stack([20 * np.sin(2 * np.pi * 2 * t)] * 4)


def _night(d, stages=(0, 1, 2, 2, 3, 4, 0), n_sig=None, names=NAMES, hyp_start=START, dims=None):
    d.mkdir(parents=True, exist_ok=True)
    write_test_edf(d / "N1-PSG.edf", _sig(n_sig or len(stages)), 100.0, names, dims=dims)
    write_test_hypnogram(d / "N1-Hypnogram.edf", list(stages), start=hyp_start)
    return d


def _prep(root, out, *extra):
    return ["prepare", "--set", f"data.root={root}", "--set", "render.height=16", "--set", "render.width=16",
            "--out", str(out), *extra]


def _ecg(d, mutate=None):
    d.mkdir(parents=True, exist_ok=True)
    for ext in (".hea", ".mat"):
        shutil.copy(sample_ecg_dir() / f"E07500{ext}", d)
    if mutate:
        mutate(d)
    return d


def _ecg_prep(root, out):
    return ["prepare", "-c", "configs/ecg_cinc2021.yaml", "--set", f"data.root={root}", "--set", "render.height=32",
            "--set", "render.width=32", "--out", str(out)]


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new, 1))


def case_truncated_edf(t):
    d = _night(t / "in")
    data = (d / "N1-PSG.edf").read_bytes()
    (d / "N1-PSG.edf").write_bytes(data[:300])
    return _prep(d, t / "out"), "N1-PSG.edf"


def case_corrupt_edf(t):
    d = _night(t / "in")
    (d / "N1-PSG.edf").write_bytes(b"garbage!" * 200)
    return _prep(d, t / "out"), "N1-PSG.edf"


def case_missing_channel(t):
    d = _night(t / "in", names=["Fpz-Cz", "Pz-Oz", "EOG horizontal", "Resp"])
    return _prep(d, t / "out"), "EMG submental"


def case_non_voltage_unit(t):
    d = _night(t / "in", dims=["uV", "uV", "uV", "degC"])
    return _prep(d, t / "out"), "not a voltage"


def case_low_sampling_rate(t):
    from sigvision.synth.edf import write_edf

    d = t / "in"
    d.mkdir()
    sig = _sig(7)
    write_edf(d / "N1-PSG.edf", [sig[0], sig[1], sig[2], sig[3][::100]], [100.0, 100.0, 100.0, 1.0], NAMES,
              ["uV"] * 4, start=START, record_duration_s=30.0)
    write_test_hypnogram(d / "N1-Hypnogram.edf", [0, 1, 2, 2, 3, 4, 0])
    return _prep(d, t / "out", "--set", "data.on_low_sampling_rate=raise"), "EMG submental (1 Hz)"


def case_hypnogram_longer(t):
    return _prep(_night(t / "in", n_sig=4), t / "out"), "longer than the signal"


def case_hypnogram_shorter(t):
    return _prep(_night(t / "in", stages=(0, 1, 2), n_sig=8), t / "out"), "shorter than the signal"


def case_hypnogram_start_mismatch(t):
    from datetime import timedelta

    return _prep(_night(t / "in", hyp_start=START + timedelta(hours=1)), t / "out"), "after the signal file"


def case_unknown_stage_label(t):
    d = _night(t / "in")
    (d / "N1-Hypnogram.edf").unlink()
    (d / "N1-Hypnogram.txt").write_text("W\nN1\nN2\nN2\nN5\nR\nW\n")
    return _prep(d, t / "out"), "unknown stage label"


def case_missing_hypnogram(t):
    d = _night(t / "in")
    (d / "N1-Hypnogram.edf").unlink()
    return _prep(d, t / "out"), "no hypnogram file"


def case_empty_recordings_folder(t):
    (t / "in").mkdir()
    return _prep(t / "in", t / "out"), "no recordings"


def case_missing_root(t):
    return _prep(t / "nowhere", t / "out"), "folder not found"


def case_output_holds_results(t):
    d = _night(t / "in")
    (t / "out").mkdir()
    (t / "out" / "index.csv").write_text("keep")
    return _prep(d, t / "out"), "--overwrite"


def case_empty_image_folder(t):
    (t / "img" / "study1").mkdir(parents=True)
    return ["prepare", "--set", "data.format=image_folder", "--set", f"data.root={t / 'img'}", "--out",
            str(t / "out")], "holds no images"


def case_unreadable_image(t):
    (t / "img" / "s").mkdir(parents=True)
    (t / "img" / "s" / "0.png").write_bytes(b"not a png")
    return ["prepare", "--set", "data.format=image_folder", "--set", f"data.root={t / 'img'}", "--out",
            str(t / "out")], "cannot decode"


def case_wfdb_lead_count(t):
    def mut(d):
        lines = (d / "E07500.hea").read_text().splitlines()
        lines[0] = lines[0].replace(" 12 ", " 11 ")
        del lines[12]
        (d / "E07500.hea").write_text("\n".join(lines) + "\n")

    return _ecg_prep(_ecg(t / "ecg", mut), t / "out"), "E07500"


def case_mat_without_val(t):
    def mut(d):
        import scipy.io

        scipy.io.savemat(d / "E07500.mat", {"data": np.zeros((12, 5000), np.int16)}, format="4")

    return _ecg_prep(_ecg(t / "ecg", mut), t / "out"), "E07500.mat"


def case_missing_mat(t):
    return _ecg_prep(_ecg(t / "ecg", lambda d: (d / "E07500.mat").unlink()), t / "out"), "E07500"


def case_corrupt_wfdb_header(t):
    return _ecg_prep(_ecg(t / "ecg", lambda d: (d / "E07500.hea").write_text("E07500 twelve x\n")), t / "out"), \
        "E07500.hea"


def case_unknown_snomed_raise(t):
    d = _ecg(t / "ecg", lambda d: _edit(d / "E07500.hea", "# Dx: ", "# Dx: 999999999,"))
    return _ecg_prep(d, t / "out") + ["--set", "data.on_unknown_label=raise"], "999999999"


def case_config_unknown_key(t):
    return ["config", "show", "--set", "train.learning_rate=0.1"], "unknown config key"


def case_config_wrong_type(t):
    return ["config", "show", "--set", "train.epochs=five"], "train.epochs must be an integer"


def case_config_bad_choice(t):
    return ["config", "show", "--set", "blend.method_x=sqrt"], "did you mean 'blend.method'"


def case_config_missing_file(t):
    return ["config", "show", "-c", str(t / "none.yaml")], "none.yaml: config file not found"


def case_config_bad_yaml(t):
    (t / "bad.yaml").write_text("train: [1, 2\n")
    return ["config", "show", "-c", str(t / "bad.yaml")], "not valid YAML"


def case_negative_blend_weights(t):
    return ["config", "show", "--set", "blend.models=[a,b]", "--set", "blend.weights=[-1,2]"], "non-negative"


def case_zero_blend_weights(t):
    return ["config", "show", "--set", "blend.models=[a,b]", "--set", "blend.weights=[0,0]"], "not all zero"


def _pred_files(t, classes_b=None, records_b=None, n_b=3, nan=False):
    from sigvision.io.probs import save_probs

    preds = t / "w" / "x" / "preds"
    p = np.full((3, 5), 0.2)
    save_probs(preds / "m1_oof_best.npy", p, classes=list("ABCDE"), records=["r"] * 3, epochs=[0, 1, 2])
    q = np.full((n_b, 5), 0.2)
    if nan:
        q[0, 0] = np.nan
    save_probs(preds / "m2_oof_best.npy", np.nan_to_num(q), classes=classes_b or list("ABCDE"),
               records=records_b or ["r"] * n_b, epochs=list(range(n_b)))
    if nan:
        np.save(preds / "m2_oof_best.npy", q)
    return ["blend", "--set", "name=x", "--set", f"weights_dir={t / 'w'}", "--set", "blend.models=[m1,m2]",
            "--set", "blend.fit_metric=none"]


def case_probs_class_order(t):
    return _pred_files(t, classes_b=list("ABCED")), "m2_oof_best.npy"


def case_probs_row_ids(t):
    return _pred_files(t, records_b=["r", "s", "r"]), "m2_oof_best.npy"


def case_probs_shape(t):
    return _pred_files(t, n_b=4), "m2_oof_best.npy"


def case_probs_non_finite(t):
    return _pred_files(t, nan=True), "non-finite"


def case_missing_predictions(t):
    return ["blend", "--set", f"weights_dir={t / 'w'}", "--set", "blend.models=[m1]"], "run inferblend.py"


def case_postprocess_without_blend(t):
    return ["postprocess", "--set", f"weights_dir={t / 'w'}"], "run blend.py"


def case_predict_missing_run(t):
    return ["predict", "--run", str(t / "none"), "--input", str(t), "--out", str(t / "o.csv")], "run folder not found"


def case_train_without_prepare(t):
    return ["train", "--set", f"prepared_dir={t / 'nope'}"], "run 'sigvision prepare'"


CASES = {k[5:]: v for k, v in sorted(globals().items()) if k.startswith("case_")}


def test_catalogue_has_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_exit_2(name, tmp_path, capsys, monkeypatch):
    check_case(CASES[name], name, tmp_path, capsys, monkeypatch)


def check_case(case, name, tmp_path, capsys, monkeypatch):
    """Run a catalogue case from the repository root: one line, exit 2, the needle, nothing half-written."""
    monkeypatch.chdir(REPO)
    argv, needle = case(tmp_path)
    rc = main(["--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("sigvision: error:") and "\n" not in err and "Traceback" not in err
    assert needle in err, err
    out = tmp_path / "out"
    if out.exists() and name != "output_holds_results":  # nothing half-written (the lock and the
        # journal of an interrupted prepare are the state the next run reads, not partial outputs)
        assert not [p for p in out.rglob("*") if p.is_file() and p.name.startswith(".")
                    and p.name not in (".sigvision.lock", ".prepare-journal.jsonl")]


def test_disk_full_while_writing_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import errno
    import os

    from sigvision.io import artifacts

    d = _night(tmp_path / "in")
    real = os.replace

    def full(src, dst):
        if str(dst).endswith("index.csv"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", full)
    assert main(["--quiet", *_prep(d, tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no space left on device" in err and "index.csv" in err and "\n" not in err
    assert not (tmp_path / "out" / "index.csv").exists()
    assert not list((tmp_path / "out").glob(".index.csv*"))  # the temp file was removed
