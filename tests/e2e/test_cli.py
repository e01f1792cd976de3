import subprocess
import sys

import numpy as np
import pytest

from sigvision.cli import main


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--help"])
    assert ei.value.code == 0
    assert "example:" in capsys.readouterr().out
    for cmd in ("synth", "prepare", "contact-sheet", "config", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "example:" in capsys.readouterr().out


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "sigvision", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("sigvision ")


@pytest.mark.parametrize("argv,needle", [
    (["prepare", "--config", "nope.yaml"], "nope.yaml: config file not found"),
    (["prepare", "--set", "data.root=/nonexistent/x"], "/nonexistent/x: folder not found"),
    (["prepare", "--set", "render.widht=3"], "did you mean 'render.width'"),
    (["contact-sheet", "--prepared", "/nonexistent/p", "--out", "x.png"], "index.csv: missing"),
])
def test_errors_are_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("sigvision: error:") and "\n" not in err
    assert "Traceback" not in err


def test_demo_end_to_end_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--nights", "4", "--max-epochs", "24", "--epochs", "1"]) == 0
    text = capsys.readouterr().out
    assert "synthetic" in text and "contact sheet" in text and "OOF kappa" in text
    assert (out / "weights" / "sleep_demo" / "preds" / "test_vit_oof_best.npy").is_file()
    assert (out / "weights" / "sleep_demo" / "preds" / "test_efficientnet_oof_best.json").is_file()
    # the classical feature stager is the third member, fitted once per fold, and blended
    assert (out / "weights" / "sleep_demo" / "preds" / "sleep_features_oof_best.npy").is_file()
    assert "train sleep_features (classical, fitted once per fold)" in text
    assert "sleep_features" in next(line for line in text.splitlines() if line.strip().startswith("weights "))
    import pandas as pd

    post = pd.read_csv(out / "weights" / "sleep_demo" / "files_post.csv")
    assert list(post.columns) == ["record", "epoch", "onset_s", "stage", "stage_code", "quality"]
    assert (post["quality"] == "ok").all()  # synthetic nights: no flat, clipped or implausible channel
    assert set(post["stage"]) <= {"W", "N1", "N2", "N3", "REM"} and post["record"].nunique() == 4
    assert (post["onset_s"].diff().dropna()[post["record"].eq(post["record"].shift()).iloc[1:]] >= 30).all()
    assert (out / "weights" / "sleep_demo" / "files_blend_sqrt_oof.csv").is_file()
    ev = out / "weights" / "sleep_demo" / "eval"
    for f in ("metrics.md", "per_night.csv", "sleep_statistics.csv", "confusion.png"):
        assert (ev / f).is_file(), f
    assert len(list(ev.glob("hypnogram_*.png"))) == 4
    assert "files_post.csv" in text
    # the trained demo run stages new EDF nights
    pred = out / "pred.csv"
    assert main(["--quiet", "predict", "--run", str(out / "weights" / "sleep_demo"), "--input", str(out / "psg"),
                 "--out", str(pred)]) == 0
    p = pd.read_csv(pred)
    assert list(p.columns) == ["record", "epoch", "onset_s", "stage", "stage_code", "p_W", "p_N1", "p_N2", "p_N3",
                               "p_REM", "confidence", "quality"]
    assert len(p) >= len(post)  # predict reads no hypnogram: every epoch of the signals, no wake trimmed
    np.testing.assert_allclose(p[["p_W", "p_N1", "p_N2", "p_N3", "p_REM"]].sum(1), 1.0, atol=1e-6)
    # a new recording without any hypnogram is staged over its whole signal
    import shutil

    (out / "new").mkdir()
    edf = sorted((out / "psg").glob("*-PSG.edf"))[0]
    shutil.copy(edf, out / "new" / edf.name)
    assert main(["--quiet", "predict", "--run", str(out / "weights" / "sleep_demo"), "--input", str(out / "new"),
                 "--out", str(out / "new.csv")]) == 0
    q = pd.read_csv(out / "new.csv")
    assert len(q) >= 24 and set(q["stage"]) <= {"W", "N1", "N2", "N3", "REM"}
    assert (out / "contact_sheet.png").stat().st_size > 1000
    assert len(list((out / "psg").glob("*-PSG.edf"))) == 4
    import cv2

    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 100
    # running again into the same folder is refused, nothing is lost
    assert main(["--quiet", "demo", "--out", str(out), "--nights", "4", "--max-epochs", "24"]) == 2
    assert (out / "contact_sheet.png").is_file()


def test_synth_and_prepare_commands(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "psg"), "--nights", "2", "--max-epochs", "20"]) == 0
    assert main(["--quiet", "prepare", "--set", f"data.root={tmp_path / 'psg'}", "--set", "render.width=32",
                 "--set", "render.height=32", "--out", str(tmp_path / "p")]) == 0
    assert main(["contact-sheet", "--prepared", str(tmp_path / "p"), "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["config", "show", "--set", "render.width=77"]) == 0
    assert "width: 77" in capsys.readouterr().out


def test_synth_montage_and_label_noise(tmp_path, capsys):
    import mne

    from sigvision.cli import SYNTH_MONTAGES
    from sigvision.loaders.hypnogram import read_hypnogram
    from sigvision.synth.montages import MONTAGES

    assert set(SYNTH_MONTAGES) == set(MONTAGES)
    out = tmp_path / "psg"
    assert main(["synth", "--out", str(out), "--nights", "1", "--max-epochs", "12", "--montage", "aasm_left",
                 "--label-noise", "1"]) == 0
    psg = next(out.glob("*-PSG.edf"))
    raw = mne.io.read_raw_edf(psg, verbose="error")
    assert raw.ch_names[:3] == ["EEG F3-M2", "EEG C3-M2", "EEG O1-M2"]
    scored = read_hypnogram(next(out.glob("*-Hypnogram.edf"))).stages
    assert scored.shape == (12,)
    with pytest.raises(SystemExit):
        main(["synth", "--out", str(out), "--label-noise", "2"])
    assert "not a number in [0, 1]" in capsys.readouterr().err


def test_pretrained_file_flag_reaches_the_config(capsys):
    assert main(["config", "show", "--pretrained-file", "/w/vit.safetensors"]) == 0
    out = capsys.readouterr().out
    assert "pretrained_file: /w/vit.safetensors" in out and "pretrained: true" in out


def test_demo_with_too_few_nights_is_refused_before_any_work(tmp_path, capsys):
    """`demo --nights 2` (one subject) ran synthesis and prepare, then failed at training with
    'set train.folds to at most 1', which the config refuses (folds >= 2)."""
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--nights", "2", "--max-epochs", "20"]) == 2
    assert "--nights 3 or more" in capsys.readouterr().err and not out.exists()
    import pandas as pd

    from sigvision.errors import InputFileError
    from sigvision.train.folds import assign_folds

    index = pd.DataFrame({"record": ["a", "b"], "subject": ["s", "s"], "label": [0, 1]})
    with pytest.raises(InputFileError, match="second subject"):
        assign_folds(index, 2, 0)
