"""`sigvision predict` on a user's folder as it is: the real Sleep-EDF excerpt (with its real,
far longer hypnogram) and a real Nox A1 file with AASM names from the CLI alone, `--set` for
the data-reading keys, `--eeg/--eog/--emg`, the hypnodensity, quality flags, and every fix an
error message gives is run and works."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sigvision.cli import main

from tests.report.test_html import trained_sleep_run
from tests.paths import DATA

REAL = DATA / "psg_real"
P_COLS = ["p_W", "p_N1", "p_N2", "p_N3", "p_REM"]
FS = 100.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg, _ = trained_sleep_run(tmp_path_factory)
    return str(cfg.run_path)


def _folder(tmp_path, *names) -> Path:
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    for n in names:
        shutil.copy(REAL / n, d / n)
    return d


def _predict(run, folder, out, *extra):
    return main(["--quiet", "predict", "--run", run, "--input", str(folder), "--out", str(out), *extra])


def _check_hypnodensity(p: pd.DataFrame):
    assert list(p.columns) == ["record", "epoch", "onset_s", "stage", "stage_code", *P_COLS, "confidence", "quality"]
    probs = p[P_COLS].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(p["confidence"], probs[np.arange(len(p)), p["stage_code"]], atol=1e-9)
    assert set(p["stage"]) <= {"W", "N1", "N2", "N3", "REM"}


def test_predict_stages_the_real_sleep_edf_excerpt_from_the_cli(run, tmp_path, capsys):
    """SC4001E0-PSG.edf (300 s) beside its real hypnogram, which runs 24 h: `predict` used to check
    the hypnogram and refuse the folder; it reads no hypnogram now."""
    d = _folder(tmp_path, "SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf")
    out = tmp_path / "p.csv"
    assert _predict(run, d, out) == 0
    text = capsys.readouterr().out
    assert "predicted 10 epoch(s) of 1 recording(s)" in text and "quality" not in text
    p = pd.read_csv(out)
    _check_hypnodensity(p)
    assert p["onset_s"].tolist() == [30.0 * i for i in range(10)] and (p["quality"] == "ok").all()
    assert p["record"].unique().tolist() == ["SC4001E0"]
    # training on it (named as Sleep-EDF names it, so that they pair) still checks the hypnogram:
    # the real length mismatch is refused, naming the hypnogram
    (d / "SC4001E0-PSG.edf").rename(d / "SC4001E0-PSG.edf")
    prep = ["--quiet", "prepare", "--set", f"data.root={d}", "--set", "render.height=16", "--set", "render.width=16"]
    assert main([*prep, "--out", str(tmp_path / "prep")]) == 2
    err = capsys.readouterr().err
    assert "SC4001EC-Hypnogram.edf: hypnogram is longer than the signal: 2640 scored epoch(s)" in err
    assert main([*prep, "--out", str(tmp_path / "prep"), *_fix_args(err)]) == 0  # its fix works too
    idx = pd.read_csv(tmp_path / "prep" / "index.csv")
    assert idx["stage"].tolist() == ["W"] * 10 and (idx["quality"] == "ok").all()


def test_predict_stages_the_real_nox_file_from_the_cli(run, tmp_path, capsys):
    """89 channels with AASM names, volts, mixed rates up to 200 Hz, no hypnogram. The run was
    trained on Fpz-Cz/Pz-Oz: the user names the derivations to use instead, as in YASA."""
    d = _folder(tmp_path, "nox_a1_subject1.edf")
    out = tmp_path / "p.csv"
    assert _predict(run, d, out) == 2
    err = capsys.readouterr().err.strip()
    assert "nox_a1_subject1.edf: required channel(s) EEG Fpz-Cz, EEG Pz-Oz, EMG submental not found" in err
    assert "--eeg F3-M2,F4-M1 --emg <EMG channel>" in err and "\n" not in err
    assert _predict(run, d, out, "--eeg", "F4-M1,O2-M1", "--emg", "1-2") == 0  # EOG: E1-M2 by the alias table
    p = pd.read_csv(out)
    _check_hypnodensity(p)
    assert len(p) == 4 and p["onset_s"].tolist() == [0, 30, 60, 90] and (p["quality"] == "ok").all()
    # the same through --set data.channels (the file's names for the run's channels, in order)
    out2 = tmp_path / "p2.csv"
    assert _predict(run, d, out2, "--set", "data.channels=[F4-M1, O2-M1, E1-M2, 1-2]") == 0
    pd.testing.assert_frame_equal(pd.read_csv(out2), p)


@pytest.mark.parametrize("setting,key", [
    ("data.fs_hz=200", "data.fs_hz"), ("data.epoch_s=20", "data.epoch_s"), ("render.width=64", "render.width"),
    ("model.name=test_vit", "model.name"), ("postprocess.method=hmm", "postprocess.method"),
    ("data.channel_types=[eeg,eeg,eeg,emg]", "data.channel_types"),
])
def test_predict_refuses_keys_that_change_what_the_models_learned(run, tmp_path, capsys, setting, key):
    d = _folder(tmp_path, "SC4001E0-PSG.edf")
    assert _predict(run, d, tmp_path / "p.csv", "--set", setting) == 2
    err = capsys.readouterr().err.strip()
    assert f"predict --set {setting}: {key} is fixed by the trained run" in err and "data.channel_aliases" in err
    assert not (tmp_path / "p.csv").exists()


def test_predict_set_and_channel_option_errors(run, tmp_path, capsys):
    d = _folder(tmp_path, "SC4001E0-PSG.edf")
    for argv, needle in ((["--set", "data.root=/x"], "the recordings to predict are --input"),
                         (["--set", "data.channels=[a, b]"], "the run reads 4 channels"),
                         (["--eeg", "C3-M2"], "the run uses 2 EEG channel(s) (EEG Fpz-Cz, EEG Pz-Oz)"),
                         (["--ecg", "ECG"], "the run uses 0 ECG channel(s); fix: drop --ecg"),
                         (["--set", "data.on_bad_signal=skip"], "data.on_bad_signal='skip' is not valid"),
                         (["--set", "data.file_pattern=*-PSG.edf"], "is not valid YAML; fix: quote it")):
        assert _predict(run, d, tmp_path / "p.csv", *argv) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err, err


def _night(folder: Path, name="rec.edf", n_epochs=8, names=("Fpz-Cz", "Pz-Oz", "EOG horizontal", "EMG submental"),
           dims=None, mutate=None, rates=None):
    """A hand-made EDF night of noise in µV (EEG 20, EOG 40, EMG 5 µV std)."""
    from sigvision.synth.edf import write_edf

    rng = np.random.default_rng(0)
    n = int(n_epochs * 30 * FS)
    sig = rng.normal(0, 1, (4, n)) * np.array([20, 20, 40, 5])[:, None]
    if mutate:
        mutate(sig)
    chans = list(sig)
    if rates:
        chans = [c[:: int(FS // r)] for c, r in zip(chans, rates)]
    folder.mkdir(parents=True, exist_ok=True)
    write_edf(folder / name, chans, rates or FS, list(names), dims or ["uV"] * 4, record_duration_s=30.0)
    return folder


def _fix_args(err: str) -> list[str]:
    """The command-line arguments an error's fix gives (the first runnable alternative)."""
    fix = err.split("; fix: ", 1)[1]
    picks = re.findall(r"--(eeg|eog|emg|ecg) ([^\s,<]+(?:,[^\s,<]+)*)(?=[\s,]|$)", fix)
    if picks:
        return [a for t, v in picks for a in (f"--{t}", v)]
    for quoted, bare in re.findall(r"--set (?:'([^']*)'|(\S+))", fix):
        value = quoted or bare.rstrip(",;")
        if "<" not in value:
            return ["--set", value]
    raise AssertionError(f"no runnable fix in: {err}")


def _flat_emg(sig):
    sig[3, : int(5 * 30 * FS)] = 0.0  # EMG flat in 5 of 8 epochs


def _flat_emg_epoch(sig):
    sig[3, int(30 * FS): int(2 * 30 * FS)] = 0.0  # EMG flat in epoch 1


FIX_CASES = {
    # AASM names the alias table cannot map onto the run's Fpz-Cz/Pz-Oz: the fix names them
    "missing_channels": (dict(names=("C4-M1", "O2-M1", "E1-M2", "Chin")), [], "--eeg C4-M1,O2-M1"),
    "low_sampling_rate": (dict(rates=[100.0, 100.0, 100.0, 1.0]), ["--set", "data.on_low_sampling_rate=raise"],
                          "--set data.on_low_sampling_rate=warn"),
    "bad_signal_raise": (dict(mutate=_flat_emg_epoch), ["--set", "data.on_bad_signal=raise"],
                         "--set data.on_bad_signal=flag"),
    "mostly_unusable": (dict(mutate=_flat_emg), [], "--set data.max_bad_fraction=1.0"),
    "empty_unit_field": (dict(dims=["uV", "uV", "uV", ""]), [], "data.channel_units={EMG submental: uV}"),
}


@pytest.mark.parametrize("case", sorted(FIX_CASES))
def test_every_fix_predict_gives_is_a_predict_command_that_works(run, tmp_path, capsys, case):
    kw, extra, fix_needle = FIX_CASES[case]
    d = _night(tmp_path / "in", **kw)
    out = tmp_path / "p.csv"
    assert _predict(run, d, out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert fix_needle in err and "\n" not in err, err
    assert _predict(run, d, out, *extra, *_fix_args(err)) == 0, capsys.readouterr().err
    assert len(pd.read_csv(out)) == 8


def test_two_recordings_with_one_id_fix_runs(run, tmp_path, capsys):
    d = _night(tmp_path / "in", name="night1.edf")
    _night(d, name="night1-PSG.edf")
    out = tmp_path / "p.csv"
    assert _predict(run, d, out) == 2
    err = capsys.readouterr().err.strip()
    assert "two recordings have the record id 'night1'" in err
    assert _predict(run, d, out, *_fix_args(err)) == 0
    assert pd.read_csv(out)["record"].unique().tolist() == ["night1"]


def test_predict_flags_bad_epochs_and_drops_them_when_asked(run, tmp_path, capsys, caplog):
    import logging

    d = _night(tmp_path / "in", mutate=_flat_emg_epoch)
    out = tmp_path / "p.csv"
    with caplog.at_level(logging.WARNING):
        assert _predict(run, d, out) == 0
    assert "quality: 1 of 8 epochs flagged (flat: EMG submental (1)); see the quality column" in capsys.readouterr().out
    assert "1 of 8 epochs has bad signals (flat: EMG submental (1)); kept and flagged" in caplog.text  # logged
    p = pd.read_csv(out)
    assert p["quality"].tolist() == ["ok", "flat:EMG submental"] + ["ok"] * 6
    assert _predict(run, d, out, "--set", "data.on_bad_signal=drop") == 0
    assert "1 epochs with bad signals dropped" in capsys.readouterr().out
    p = pd.read_csv(out)
    assert p["onset_s"].tolist() == [0.0] + [30.0 * i for i in range(2, 8)] and (p["quality"] == "ok").all()


def test_predict_reports_progress(run, tmp_path):
    from sigvision.steps.predict import run_predict

    seen = []

    def progress(it, total=None, desc=""):
        seen.append((desc, total))
        return it

    d = _night(tmp_path / "in")
    res = run_predict(run, d, tmp_path / "p.csv", progress=progress)
    assert ("prepare", 1) in seen and ("predict", 4) in seen  # 2 models x 2 folds
    assert res["rows"] == 8 and res["records"] == 1 and sum(res["stage_counts"].values()) == 8


def test_stage_checks_arrays_too(run):
    """Arrays passed to sigvision.stage() go through the same checks, with fixes in its own terms."""
    from sigvision.errors import InputFileError
    from sigvision.steps.stage import stage

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (4, int(6 * 30 * FS))) * np.array([20, 20, 40, 5])[:, None]
    names = ["Fpz-Cz", "Pz-Oz", "EOG", "Chin"]
    with pytest.raises(InputFileError) as ei:
        stage(x * 1000, run_dir=run, fs_hz=FS, channels=names)  # mV read as µV: x1000
    msg = str(ei.value)
    assert "array: mostly unusable: 6 of 6 epochs" in msg and "amplitude: EEG Fpz-Cz (6; std up to 2" in msg
    assert msg.endswith("to use it anyway, max_bad_fraction=1.0")  # stage()'s keyword, not --set
    s, q = stage(x * 1000, run_dir=run, fs_hz=FS, channels=names, max_bad_fraction=1.0, return_quality=True)
    assert len(s) == 6 and all(t.startswith("amplitude:EEG Fpz-Cz,EEG Pz-Oz,EOG horizontal") for t in q)
    y = x.copy()
    y[3, 100] = np.nan
    y[0, int(2 * 30 * FS):int(3 * 30 * FS)] = 0.0
    s, p, q = stage(y, run_dir=run, fs_hz=FS, channels=names, return_probs=True, return_quality=True)
    assert q == ["nonfinite:EMG submental", "ok", "flat:EEG Fpz-Cz", "ok", "ok", "ok"] and p.shape == (6, 5)
    s = stage(y, run_dir=run, fs_hz=FS, channels=names, on_bad_signal="drop")
    assert s[0] == -1 and s[2] == -1 and (s[[1, 3, 4, 5]] >= 0).all()
    with pytest.raises(InputFileError, match="on_bad_signal='flag' keeps them"):
        stage(y, run_dir=run, fs_hz=FS, channels=names, on_bad_signal="raise")


def test_predict_errors_about_the_folder_name_input_not_data_root(run, tmp_path, capsys):
    assert _predict(run, tmp_path / "nowhere", tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert "nowhere: folder not found; fix: pass --input" in err and "data.root" not in err
    (tmp_path / "empty").mkdir()
    assert _predict(run, tmp_path / "empty", tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert "no recordings (.edf, .bdf or .fif files)" in err and "data.root" not in err


@pytest.mark.parametrize("tamper,problem", [
    (lambda meta: {**meta, "classes": meta["classes"][::-1]}, "predicts the classes ['REM', 'N3', 'N2', 'N1', 'W']"),
    (lambda meta: {**meta, "config_hash": "0" * len(meta["config_hash"])}, "was trained with different data/render/model"),
])
def test_predict_and_stage_check_every_fold_of_every_model(run, tmp_path, capsys, tamper, problem):
    """One model's fold with another class order or from other settings is refused by name on
    both prediction paths (it used to be averaged in silently by predict and stage())."""
    import torch

    from sigvision.errors import InputFileError
    from sigvision.steps.stage import stage

    copy = tmp_path / "w" / Path(run).name
    shutil.copytree(run, copy)
    ck = sorted((copy / "resnet1d_tiny" / "fold_1").glob("*.pt"))
    assert ck, "the run has no resnet1d_tiny fold-1 checkpoint"
    for p in ck:
        state = torch.load(p, map_location="cpu", weights_only=False)
        state["meta"] = tamper(state["meta"])
        torch.save(state, p)
    folder = _folder(tmp_path, "SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf")
    assert _predict(str(copy), folder, tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert "resnet1d_tiny/fold_1/" in err and problem in err
    assert not (tmp_path / "out.csv").exists()
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (4, int(4 * 30 * FS))) * np.array([20, 20, 40, 5])[:, None]
    with pytest.raises(InputFileError, match=re.escape(problem)):
        stage(x, run_dir=str(copy), fs_hz=FS, channels=["Fpz-Cz", "Pz-Oz", "EOG", "Chin"])
