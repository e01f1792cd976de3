"""The real ECG formats shipped in sample_data/ecg: CinC 2020 abbreviations (CPSC2018), LUDB's
free text, lower-case leads and per-lead gains, 10-60 s records, unlabelled headers, 1000-Hz
and 15-lead records, the label policies of the config."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from sigvision.config.load import load_config
from sigvision.errors import ConfigError, InputFileError
from sigvision.loaders.ecg import STANDARD_LEADS, match_leads
from sigvision.loaders.wfdb import read_wfdb_record
from sigvision.synth.wfdb import write_wfdb_mat_record
from tests.paths import REPO

SAMPLE = REPO / "sample_data" / "ecg"
CPSC, LUDB = SAMPLE / "cinc2020_cpsc2018", SAMPLE / "ludb"


def test_cpsc_abbreviations_become_snomed_codes():
    assert read_wfdb_record(CPSC / "A0001").labels == ["59118001"]  # "#Dx: RBBB"
    two = [read_wfdb_record(p) for p in sorted(CPSC.glob("*.hea")) if "," in p.read_text().split("#Dx:")[1]
           .splitlines()[0]]
    assert two and all(r.labels == ["164889003", "59118001"] for r in two)  # "AF,RBBB"
    counts: dict[str, int] = {}
    for p in sorted(CPSC.glob("*.hea")):
        for c in read_wfdb_record(p, on_unknown="raise").labels:
            counts[c] = counts.get(c, 0) + 1
    # the shared-data README's counts: RBBB 20, AF 16, STD 14, Normal 14, STE 12, PAC 10, PVC 9, LBBB 7, I-AVB 5
    assert counts == {"59118001": 20, "164889003": 16, "429622005": 14, "426783006": 14, "164931005": 12,
                      "284470004": 10, "427172004": 9, "164909002": 7, "270492004": 5}


def test_cpsc_records_are_10_to_60_s_at_500_hz():
    rec = read_wfdb_record(CPSC / "A0001")
    assert rec.fs_hz == 500 and rec.signals.shape == (12, 7500) and rec.age == 74 and rec.sex == "M"
    lengths = [int(p.read_text().split()[3]) / 500 for p in CPSC.glob("*.hea")]
    assert min(lengths) == 10 and 57 < max(lengths) <= 60


def test_ludb_header_age_sex_free_text_and_lower_case_leads():
    rec = read_wfdb_record(LUDB / "7", on_unknown="raise")
    assert (rec.age, rec.sex) == (50.0, "M")
    assert rec.lead_names == ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"]
    # Sinus rhythm, horizontal axis (no finding), SA-nodal + single PAC, LA hypertrophy, RA overload,
    # LVH, STEMI on four walls (acute MI + ST elevation), each code once
    assert rec.labels == ["426783006", "284470004", "446813000", "253339007", "164873001", "57054005", "164931005"]
    assert rec.meta["labels_from"] == "diagnoses" and rec.meta["unknown_labels"] == []
    # per-lead gains applied (LUDB 1.0.1 scales every lead to a 1-mV range)
    assert np.allclose(np.ptp(rec.signals, axis=1), 1.0, atol=1e-3)


def test_every_shipped_ludb_statement_is_mapped():
    for p in sorted(LUDB.glob("*.hea")):
        rec = read_wfdb_record(p, on_unknown="raise")
        assert rec.labels and rec.age is not None and rec.sex in ("M", "F"), p.name


def test_leads_matched_case_insensitively_with_aliases():
    assert match_leads([n.lower() for n in STANDARD_LEADS], STANDARD_LEADS)[0] == list(range(12))
    rows, dropped = match_leads(["V1", "AVR", "DI", "MLII", "D3", "aVL", "avf"] + [f"v{i}" for i in range(2, 7)]
                                + ["vx", "vy", "vz"], STANDARD_LEADS)
    assert rows == [2, 3, 4, 1, 5, 6, 0, 7, 8, 9, 10, 11] and dropped == ["vx", "vy", "vz"]
    assert match_leads(["I", "ECG2"], ["I", "II"], aliases={"II": ["ecg 2"]})[0] == [0, 1]
    with pytest.raises(InputFileError, match=r"rec\.hea: lead\(s\) II missing .*channel_aliases"):
        match_leads(["I", "V1"], ["I", "II"], source="rec.hea")
    with pytest.raises(InputFileError, match="lead I is matched by 2 leads"):
        match_leads(["I", "i"], ["I"])


def _cfg(tmp_path, root, *sets):
    return load_config(REPO / "configs" / "ecg_real_1d.yaml",
                       [f"data.root={root}", f"prepared_dir={tmp_path}/prep", f"weights_dir={tmp_path}/w",
                        "prepare.cache_images=false", *sets])


def test_prepare_resamples_1000_hz_and_selects_12_of_15_leads_explicitly(tmp_path, caplog):
    from sigvision.steps.prepare import prepare_dataset

    d = tmp_path / "ptb"
    d.mkdir()
    rng = np.random.default_rng(0)
    names = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6", "vx", "vy", "vz"]
    x = rng.normal(0, 0.2, (15, 12000))
    x[1] += np.sin(np.arange(12000) / 1000 * 2 * np.pi * 1.2)  # lead ii
    write_wfdb_mat_record(d / "s0001", x, 1000, names, age=61, sex="F", dx=["164889003"])
    write_wfdb_mat_record(d / "s0002", x[:, :9000], 500, names, dx=["426783006"])
    cfg = _cfg(tmp_path, d)
    with caplog.at_level("INFO", logger="sigvision.steps.prepare"):
        prepare_dataset(cfg, cfg.prepared_path)
    sig = np.load(cfg.prepared_path / "signals" / "s0001.npy")
    fs = cfg.data.fs_hz
    assert sig.shape == (12, int(12 * fs))  # 12 s kept whole (windows), 12 of 15 leads
    ii = np.load(cfg.prepared_path / "signals" / "s0001.npy")[1]
    src = np.sin(np.arange(int(12 * fs)) / fs * 2 * np.pi * 1.2)
    assert np.corrcoef(ii, src)[0, 1] > 0.9  # lead ii stays lead II after resampling
    summary = __import__("json").loads((cfg.prepared_path / "prepare.json").read_text())["summary"]
    assert summary["fs_hz_file"] == {"500": 1, "1000": 1}
    assert summary["leads_left_out"] == {"vx": 2, "vy": 2, "vz": 2}
    log = "\n".join(r.getMessage() for r in caplog.records)
    assert "resampled 2 record(s)" in log and "vx" in log
    index = pd.read_csv(cfg.prepared_path / "index.csv", dtype={"record": str, "labels": str})
    assert index[["age", "sex"]].iloc[0].tolist() == [61.0, "F"] and index["labels"].tolist() == ["164889003",
                                                                                                "426783006"]


def test_unlabelled_headers_are_counted_and_refused_for_training(tmp_path, caplog):
    from sigvision.steps.prepare import prepare_dataset
    from sigvision.train.data import load_training_index

    d = tmp_path / "recs"
    d.mkdir()
    for stem in ("A0001", "A0003", "A0008"):
        for ext in (".hea", ".mat"):
            shutil.copy(CPSC / f"{stem}{ext}", d)
    hea = d / "A0008.hea"
    hea.write_text("\n".join(line for line in hea.read_text().splitlines() if not line.startswith("#Dx")) + "\n")
    cfg = _cfg(tmp_path, d)
    with caplog.at_level("WARNING", logger="sigvision.steps.prepare"):
        res = prepare_dataset(cfg, cfg.prepared_path)
    assert res.summary["unlabelled_records"] == 1 and res.summary["unlabelled_examples"] == ["A0008"]
    assert any("1 of 3 record(s) name no diagnosis" in r.getMessage() for r in caplog.records)
    with pytest.raises(InputFileError, match=r"1 of 3 record\(s\) have no labels.*A0008.*on_missing_labels: drop"):
        load_training_index(cfg)
    from dataclasses import replace

    drop = replace(cfg, data=replace(cfg.data, on_missing_labels="drop"))
    assert load_training_index(drop)["record"].tolist() == ["A0001", "A0003"]
    neg = replace(cfg, data=replace(cfg.data, on_missing_labels="negative"))
    assert len(load_training_index(neg)) == 3


def test_on_unknown_label_and_its_deprecated_spelling(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="sigvision.config"):
        cfg = load_config(REPO / "configs" / "ecg_cinc2021.yaml", ["data.on_unknown_code=raise"])
    assert cfg.data.on_unknown_label == "raise"
    assert any("on_unknown_code is deprecated" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="disagree"):
        load_config(REPO / "configs" / "ecg_cinc2021.yaml", ["data.on_unknown_code=raise",
                                                             "data.on_unknown_label=warn"])
    # an old saved config with the old key still loads
    old = tmp_path / "config.yaml"
    old.write_text("data:\n  task: ecg\n  format: wfdb\n  on_unknown_code: ignore\n")
    assert load_config(old).data.on_unknown_label == "ignore"
    with pytest.raises(ConfigError, match="data.on_unknown_label='maybe'"):
        load_config(None, ["data.on_unknown_label=maybe"])


def test_unknown_label_raise_names_the_file_and_the_fix(tmp_path):
    from sigvision.steps.prepare import prepare_dataset

    d = tmp_path / "recs"
    d.mkdir()
    for ext in (".hea", ".mat"):
        shutil.copy(CPSC / f"A0001{ext}", d)
    (d / "A0001.hea").write_text((d / "A0001.hea").read_text().replace("#Dx: RBBB", "#Dx: RBBB, Martian"))
    cfg = _cfg(tmp_path, d, "data.on_unknown_label=raise")
    with pytest.raises(InputFileError, match=r"A0001\.hea.*'Martian'.*data\.label_map"):
        prepare_dataset(cfg, cfg.prepared_path)
    mp = tmp_path / "map.yaml"
    mp.write_text("Martian: 426783006\n")
    cfg = _cfg(tmp_path, d, "data.on_unknown_label=raise", f"data.label_map={mp}")
    prepare_dataset(cfg, cfg.prepared_path, overwrite=True)
    assert pd.read_csv(cfg.prepared_path / "index.csv", dtype={"labels": str})["labels"].tolist() == \
        ["59118001;426783006"]


def test_challenge_year_and_label_set_must_agree():
    assert load_config(None, ["data.challenge=2020", "data.label_set=cinc2020_scored"]).data.challenge == "2020"
    with pytest.raises(ConfigError, match="data.challenge: 2020"):
        load_config(None, ["data.label_set=cinc2020_scored"])
    with pytest.raises(ConfigError, match="data.challenge"):
        load_config(None, ["data.challenge=2019"])
