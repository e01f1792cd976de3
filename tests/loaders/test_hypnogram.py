import json

import numpy as np
import pytest

from sigvision.errors import InputFileError
from sigvision.loaders.hypnogram import (MOVEMENT, UNSCORED, map_stage_label, read_hypnogram,
                                         read_hypnogram_csv, read_hypnogram_edf)
from sigvision.synth.samples import hypnogram_dir, list_sample_hypnograms, load_sample_hypnogram

from tests.conftest import write_test_hypnogram
from tests.paths import DATA


@pytest.mark.parametrize("label,code", [
    ("W", 0), ("Wake", 0), ("Sleep stage W", 0), ("N1", 1), ("Sleep stage 1", 1), ("S2", 2),
    ("Sleep stage 3", 3), ("Sleep stage 4", 3), ("N3", 3), ("R", 4), ("REM", 4), ("Sleep stage R", 4),
    ("Movement time", MOVEMENT), ("M", MOVEMENT), ("Sleep stage ?", UNSCORED), ("?", UNSCORED),
    (0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (-1, UNSCORED), (-2, UNSCORED),
])
def test_label_mapping_rk_aasm_and_yasa_ints(label, code):
    assert map_stage_label(label) == code


def test_rk_integer_coding_is_explicit():
    assert map_stage_label(4, int_coding="rk") == 3
    assert map_stage_label(5, int_coding="rk") == 4
    assert map_stage_label(4) == 4  # YASA: 4 is REM


def test_unknown_label_lists_accepted_values():
    with pytest.raises(ValueError, match="accepted: W/Wake"):
        map_stage_label("N5")


def test_yasa_text_files_counts_match_provenance():
    d = hypnogram_dir() / "yasa"
    full = read_hypnogram(d / "data_full_6hrs_100Hz_hypno_30s.txt")  # ints, '#' comments
    assert len(full) == 720
    assert full.counts() == {"W": 43, "N1": 22, "N2": 318, "N3": 182, "REM": 155, "unscored": 0, "movement": 0}
    sub = read_hypnogram(d / "sub-02_hypno_30s.txt")  # strings W/N1/N2/N3/R
    assert len(sub) == 98
    c = sub.counts()
    assert (c["W"], c["N1"], c["N2"], c["N3"], c["REM"]) == (36, 9, 31, 22, 0)


def test_sleep_edf_json_total_epochs():
    names = list_sample_hypnograms("sleep_edf")
    assert len(names) == 147
    total = sum(len(load_sample_hypnogram(n)) for n in names)
    assert total == 176_889  # README of the shared data


def test_dod_consensus_is_majority_vote():
    name = list_sample_hypnograms("dodh")[0]
    cons = load_sample_hypnogram(name, "dodh")
    stacks = np.array([json.loads((hypnogram_dir() / "dreem_dodh" / f"scorer_{k}" / f"{name}.json").read_text())
                       for k in range(1, 6)])
    assert cons.shape == (stacks.shape[1],)
    for i in range(0, stacks.shape[1], 97):
        col = stacks[:, i][stacks[:, i] >= 0]
        if col.size:
            assert np.sum(col == cons[i]) == np.bincount(col, minlength=5).max()


def test_edf_hypnogram_round_trip(tmp_path):
    stages = ["Sleep stage W"] * 3 + ["Sleep stage 1", "Sleep stage 2", "Sleep stage 2", "Sleep stage 3",
                                      "Sleep stage 4", "Movement time", "Sleep stage R", "Sleep stage ?"]
    p = write_test_hypnogram(tmp_path / "X-Hypnogram.edf", stages)
    hyp = read_hypnogram_edf(p)
    assert hyp.stages.tolist() == [0, 0, 0, 1, 2, 2, 3, 3, MOVEMENT, 4, UNSCORED]
    assert hyp.start is not None and hyp.onset_s == 0


def test_csv_variants(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("onset,stage\n0,W\n30,N1\n60,N2\n90,R\n")
    assert read_hypnogram_csv(p).stages.tolist() == [0, 1, 2, 4]
    p2 = tmp_path / "h2.csv"
    p2.write_text("W\nW\nN3\n")
    assert read_hypnogram(p2).stages.tolist() == [0, 0, 3]
    p3 = tmp_path / "h3.csv"
    p3.write_text("onset,stage\n0,W\n45,N1\n")
    with pytest.raises(InputFileError, match="spaced"):
        read_hypnogram(p3)


@pytest.mark.parametrize("content,match", [
    ("W\nN1\nN7\n", "unknown stage label"),
    ("", "empty"),
    ("# only a comment\n", "no stages"),
])
def test_bad_hypnogram_files_name_the_file(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    p.write_text(content)
    with pytest.raises(InputFileError, match=match) as ei:
        read_hypnogram(p)
    assert "bad.txt" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_missing_hypnogram_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_hypnogram(tmp_path / "nope.txt")


def test_corrupt_edf_hypnogram(tmp_path):
    p = tmp_path / "c-Hypnogram.edf"
    p.write_bytes(b"0       garbage" * 10)
    with pytest.raises(InputFileError, match="c-Hypnogram.edf"):
        read_hypnogram(p)


def test_bom_and_a_stage_header_line_are_accepted(tmp_path):
    """Windows editors write a UTF-8 byte-order mark; spreadsheets export a 'Stage' header line:
    both made the reader reject the file ('unknown stage label')."""
    p = tmp_path / "h-Hypnogram.txt"
    p.write_bytes("\ufeffStage\nW\nN1\nN2\nR\n".encode("utf-8"))
    assert read_hypnogram(p).stages.tolist() == [0, 1, 2, 4]
    p.write_bytes("\ufeffW\n1\n".encode("utf-8"))
    assert read_hypnogram(p).stages.tolist() == [0, 1]
    p.write_bytes("sleep stage\n0\n3\n".encode("utf-8"))
    assert read_hypnogram(p).stages.tolist() == [0, 3]
    c = tmp_path / "h.csv"
    c.write_bytes("\ufeffstage\nW\nN3\n".encode("utf-8"))
    assert read_hypnogram(c).stages.tolist() == [0, 3]
    j = tmp_path / "h.json"
    j.write_bytes("\ufeff[0, 2, 4]".encode("utf-8"))
    assert read_hypnogram(j).stages.tolist() == [0, 2, 4]
    p.write_text("Stage\nStage\nW\n")  # a second header line is not a header
    with pytest.raises(InputFileError, match=r"unknown stage label\(s\) 'Stage'"):
        read_hypnogram(p)


def test_20_s_epoch_hypnogram_is_refused_or_resampled_when_asked(tmp_path, caplog):
    """A hypnogram scored in 20-s epochs was silently re-mapped onto 30-s epochs."""
    import logging

    from sigvision.synth.edf import write_hypnogram_edf

    # 20-s epochs: W W N1 N2 N2 N2 N3 N3 N3 (180 s = six 30-s epochs)
    p = write_hypnogram_edf(tmp_path / "x-Hypnogram.edf", [0, 0, 1, 2, 2, 2, 3, 3, 3], epoch_s=20.0)
    with pytest.raises(InputFileError) as ei:
        read_hypnogram(p)
    msg = str(ei.value)
    assert "x-Hypnogram.edf" in msg and "scored in 20-s epochs" in msg
    assert "--set data.epoch_s=20" in msg and "--set data.on_epoch_mismatch=resample" in msg
    assert read_hypnogram(p, epoch_s=20.0).stages.tolist() == [0, 0, 1, 2, 2, 2, 3, 3, 3]
    with caplog.at_level(logging.WARNING):
        h = read_hypnogram(p, on_epoch_mismatch="resample")
    # 30-s epoch k covers 20-s epochs 1.5k .. 1.5k+1.5: the stage covering most of it
    # [0,30): W 20 s + W 10 s; [30,60): W 10 + N1 20 -> N1; [60,90): N2; [90,120): N2; [120,150): N3; [150,180): N3
    assert h.stages.tolist() == [0, 1, 2, 2, 3, 3] and h.extra["resampled_from_epoch_s"] == 20.0
    assert "scored in 20-s epochs; re-scored on 6 30-s epochs" in caplog.text
    # Sleep-EDF's real hypnogram lies on the 30-s grid
    real = read_hypnogram(DATA / "psg_real" / "SC4001EC-Hypnogram.edf")
    assert len(real) == 2880 and real.counts()["W"] > 1000


def test_truncated_edf_hypnogram_is_called_damaged(tmp_path):
    from sigvision.synth.edf import write_hypnogram_edf

    p = write_hypnogram_edf(tmp_path / "t-Hypnogram.edf", [0, 1, 2] * 40)
    p.write_bytes(p.read_bytes()[:-200])
    with pytest.raises(InputFileError, match="t-Hypnogram.edf: EDF is damaged \\(truncated\\)"):
        read_hypnogram(p)


def test_an_unscored_span_off_the_grid_is_not_an_epoch_mismatch():
    from sigvision.loaders.hypnogram import hypnogram_from_annotations

    h = hypnogram_from_annotations([0, 60, 90], [60, 30, 1234], ["Sleep stage W", "Sleep stage 1", "Sleep stage ?"])
    assert h.stages[:3].tolist() == [0, 0, 1] and (h.stages[3:] == UNSCORED).all()
    with pytest.raises(InputFileError, match="scored in 15-s epochs"):
        hypnogram_from_annotations([0, 45], [45, 30], ["Sleep stage W", "Sleep stage 1"])
