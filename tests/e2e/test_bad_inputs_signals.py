"""The bad-input catalogue, continued (issue 15): inputs that used to give a confident wrong
answer with nothing said: flat, clipped or wrongly scaled signals, truncated EDFs, hypnograms
scored in 20-s epochs or paired ambiguously, and `predict` settings that would change what the
models were trained on. Each gives one line naming the file and the fix, exit code 2."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest


from tests.conftest import START, write_test_edf, write_test_hypnogram
from tests.e2e.test_bad_inputs import NAMES, _ecg, _ecg_prep, _night, _prep, _sig, check_case


def _edf(d, sig, name="N1-PSG.edf", stages=(0, 1, 2, 2, 3, 4, 0), **kw):
    d.mkdir(parents=True, exist_ok=True)
    write_test_edf(d / name, sig, 100.0, NAMES, record_duration_s=30.0, **kw)
    write_test_hypnogram(d / name.replace("-PSG.edf", "-Hypnogram.edf"), list(stages))
    return d


def case_all_zero_night(t):
    return _prep(_edf(t / "in", np.zeros((4, 7 * 3000))), t / "out"), "mostly unusable: 7 of 7 epochs"


def case_night_clipped_at_the_limits(t):
    from sigvision.synth.edf import write_edf

    d = t / "in"
    d.mkdir()
    sig = _sig(7)
    sig[0] = 500.0  # beyond the physical maximum: stored at the digital maximum
    write_edf(d / "N1-PSG.edf", sig, 100.0, NAMES, ["uV"] * 4, physical_min=-192, physical_max=192,
              record_duration_s=30.0, start=START)
    write_test_hypnogram(d / "N1-Hypnogram.edf", [0, 1, 2, 2, 3, 4, 0])
    return _prep(d, t / "out"), "clipped: EEG Fpz-Cz (7)"


def case_bad_signal_policy_raise(t):
    sig = _sig(7)
    sig[3, :3000] = 0.0
    return _prep(_edf(t / "in", sig), t / "out", "--set", "data.on_bad_signal=raise"), \
        "1 of 7 epochs has bad signals (flat: EMG submental (1))"


def case_edf_unit_off_by_1e6(t):
    return _prep(_edf(t / "in", _sig(7), dims=["V", "uV", "uV", "uV"]), t / "out"), "amplitude: EEG Fpz-Cz (7; std up to"


def case_truncated_edf_data(t):
    d = _night(t / "in")
    data = (d / "N1-PSG.edf").read_bytes()
    (d / "N1-PSG.edf").write_bytes(data[: len(data) * 2 // 3])
    return _prep(d, t / "out", "--set", "data.on_length_mismatch=warn"), "N1-PSG.edf: EDF is damaged (truncated)"


def case_edf_unset_record_count_partial_record(t):
    d = _night(t / "in")
    data = bytearray((d / "N1-PSG.edf").read_bytes())
    data[236:244] = b"-1      "
    (d / "N1-PSG.edf").write_bytes(bytes(data[:-10]))
    return _prep(d, t / "out"), "unset (-1)"


def case_ecg_gain_off_by_1000(t):
    def mut(d):
        h = d / "E07500.hea"
        h.write_text(re.sub(r" 1000(\.0)?\(0\)/m[vV]", " 1(0)/mV", h.read_text()))

    return _ecg_prep(_ecg(t / "ecg", mut), t / "out"), "mostly unusable: 1 of 1 record has bad signals (E07500)"


def case_hypnogram_20_s_epochs(t):
    from sigvision.synth.edf import write_hypnogram_edf

    d = _night(t / "in")
    write_hypnogram_edf(d / "N1-Hypnogram.edf", [0, 0, 1, 2, 2, 2, 3, 3, 3, 2], epoch_s=20.0)
    return _prep(d, t / "out"), "scored in 20-s epochs"


def case_two_hypnograms_one_recording(t):
    d = _night(t / "in")
    (d / "N1-Hypnogram.txt").write_text("W\nN1\nN2\nN2\nN3\nR\nW\n")
    return _prep(d, t / "out"), "2 hypnograms pair with this recording: N1-Hypnogram.edf, N1-Hypnogram.txt"


def case_one_hypnogram_two_recordings(t):
    d = t / "in"
    d.mkdir()
    for rid in ("SC4001E0", "SC4001E1"):
        write_test_edf(d / f"{rid}-PSG.edf", _sig(2), 100.0, NAMES)
    write_test_hypnogram(d / "SC4001EC-Hypnogram.edf", [0, 1])
    return _prep(d, t / "out"), "SC4001EC-Hypnogram.edf: pairs with 2 recordings"


def case_two_recordings_one_record_id(t):
    d = _night(t / "in")
    shutil.copy(d / "N1-PSG.edf", d / "N1.edf")
    return _prep(d, t / "out"), "two recordings have the record id 'N1'"


def _fake_run(t):
    """A run folder as predict reads it before any model is loaded: blend report + configs."""
    from sigvision.io.artifacts import write_json
    from sigvision.config import Config
    from sigvision.config.load import save_config

    run = t / "w" / "exp"
    save_config(Config(), run / "m" / "config.yaml")
    write_json(run / "files_blend_sqrt_oof.json", {"models": ["m"], "weights": {"m": 1.0}, "method": "sqrt"})
    return run


def case_predict_set_training_key(t):
    return ["predict", "--run", str(_fake_run(t)), "--input", str(t), "--out", str(t / "p.csv"), "--set",
            "data.fs_hz=256"], "predict --set data.fs_hz=256: data.fs_hz is fixed by the trained run"


def case_predict_channel_count(t):
    return ["predict", "--run", str(_fake_run(t)), "--input", str(t), "--out", str(t / "p.csv"), "--eeg",
            "C3-M2"], "the run uses 2 EEG channel(s)"


CASES = {k[5:]: v for k, v in sorted(globals().items()) if k.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_signal_input_is_one_line_exit_2(name, tmp_path, capsys, monkeypatch):
    check_case(CASES[name], name, tmp_path, capsys, monkeypatch)
