"""Tests of sigvision.loaders.ecg on the shipped CinC 2021 sample and on generated files."""
from __future__ import annotations

import collections
import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from sigvision.errors import InputFileError
from sigvision.loaders import dx
from sigvision.loaders.ecg import STANDARD_LEADS, fix_length, resample_ecg, sample_cinc2021_dir
from sigvision.loaders.hefei import derive_limb_leads, iter_hefei_folder, read_hefei_label_table, read_hefei_txt
from sigvision.loaders.wfdb import iter_wfdb_folder, load_wfdb_folder, read_wfdb_record
from sigvision.loaders.wfdb_header import parse_wfdb_header
from sigvision.loaders.aiwin import read_aiwin_folder, read_aiwin_mat
from sigvision.synth.wfdb import write_wfdb_mat_record

SAMPLE = sample_cinc2021_dir()

# Label counts of the sample (records carrying the code): E, HR, JS.
# Same table as /work/shared/data/README.md and resources/sample/cinc2021/PROVENANCE.md.
README_COUNTS = {
    "427084000": (3, 0, 11),
    "284470004": (0, 0, 14),
    "426783006": (3, 7, 0),
    "426177001": (3, 1, 2),
    "164934002": (1, 1, 4),
    "698252002": (0, 0, 6),
    "55930002": (0, 1, 4),
    "164873001": (2, 0, 1),
    "111975006": (2, 0, 0),
    "55827005": (0, 0, 2),
    "427172004": (0, 0, 2),
    "59931005": (0, 0, 2),
    "67741000119109": (1, 0, 0),
    "253352002": (1, 0, 0),
    "428750005": (1, 0, 0),
    "59118001": (1, 0, 0),
    "713426002": (0, 1, 0),
    "427393009": (0, 0, 1),
    "251170000": (0, 0, 1),
}


@pytest.fixture(scope="module")
def sample_records():
    return load_wfdb_folder(SAMPLE)


def _source(record_id: str) -> str:
    return "E" if record_id.startswith("E") else record_id[:2]


def _rand_signals(rng, n_leads=12, n=1000, scale=1.5):
    return rng.normal(0, scale, size=(n_leads, n))


# ----------------------------------------------------------------------------- real sample
def test_sample_ships_70_files_and_provenance():
    names = sorted(p.name for p in SAMPLE.iterdir())
    assert len([n for n in names if n.endswith((".hea", ".mat"))]) == 70
    assert "PROVENANCE.md" in names
    text = (SAMPLE / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "b10c415b7da062afc08b456920244c52594b75ee" in text and "CC BY 4.0" in text
    lic = (dx.dx_mapping_dir() / "LICENSE.md").read_text(encoding="utf-8")
    assert "BSD 2-Clause" in lic and "e2a75fc01f729cb74cc4e853e054ce81e28381fc" in lic


def test_values_equal_loadmat_val_over_1000():
    rec = read_wfdb_record(SAMPLE / "E07500")
    val = scipy.io.loadmat(str(SAMPLE / "E07500.mat"))["val"]
    assert val.shape == (12, 5000)
    assert rec.signals.dtype == np.float32 and rec.signals.shape == (12, 5000)
    np.testing.assert_array_equal(rec.signals, (val / 1000.0).astype(np.float32))
    assert rec.units == "mV" and rec.fs_hz == 500.0
    assert rec.lead_names == list(STANDARD_LEADS)
    assert rec.record_id == "E07500" and rec.subject_id == "E07500"
    assert rec.source.endswith("E07500.hea") and rec.meta["format"] == "wfdb-mat"


def test_lowercase_mv_units_agree_with_wfdb():
    # HR* headers write the unit as "mv".
    rec = read_wfdb_record(SAMPLE / "HR06000.hea")
    ref = wfdb.rdrecord(str(SAMPLE / "HR06000"))
    assert ref.units[0] == "mv"
    np.testing.assert_allclose(rec.signals, ref.p_signal.T, atol=1e-6)


def test_path_forms_are_equivalent():
    a = read_wfdb_record(SAMPLE / "JS20000")
    for form in ("JS20000.hea", "JS20000.mat"):
        b = read_wfdb_record(str(SAMPLE / form))
        np.testing.assert_array_equal(a.signals, b.signals)


@pytest.mark.parametrize(
    "rid, age, sex, dx_codes",
    [
        ("E07500", 78.0, "M", ["67741000119109", "426177001"]),
        ("HR06000", 59.0, "F", ["164934002", "426783006"]),
        ("JS20000", 84.0, "F", ["284470004", "427084000", "698252002", "55930002"]),
    ],
)
def test_demographics_and_dx(rid, age, sex, dx_codes):
    rec = read_wfdb_record(SAMPLE / rid)
    assert (rec.age, rec.sex, rec.labels) == (age, sex, dx_codes)
    # And against the header text itself.
    lines = (SAMPLE / f"{rid}.hea").read_text().splitlines()
    fields = dict(line[1:].strip().split(": ", 1) for line in lines if line.startswith("#"))
    assert float(fields["Age"]) == rec.age
    assert fields["Sex"][0] == rec.sex
    assert fields["Dx"].split(",") == rec.labels


def test_all_35_records_load(sample_records):
    assert len(sample_records) == 35
    ids = [r.record_id for r in sample_records]
    assert ids == sorted(ids)
    assert collections.Counter(_source(i) for i in ids) == {"E": 14, "HR": 7, "JS": 14}
    for r in sample_records:
        assert r.signals.shape == (12, 5000) and r.fs_hz == 500.0
        assert r.lead_names == list(STANDARD_LEADS)
        assert np.isfinite(r.signals).all() and np.abs(r.signals).max() < 33
        assert r.sex in ("M", "F") and 5 <= r.age <= 89
        assert 1 <= len(r.labels) <= 5
    assert collections.Counter(r.sex for r in sample_records) == {"M": 17, "F": 18}


def test_label_counts_match_readme(sample_records):
    counts = collections.defaultdict(lambda: [0, 0, 0])
    for r in sample_records:
        col = {"E": 0, "HR": 1, "JS": 2}[_source(r.record_id)]
        for code in set(r.labels):
            counts[code][col] += 1
    assert {k: tuple(v) for k, v in counts.items()} == README_COUNTS
    assert sum(len(r.labels) for r in sample_records) == 79
    # Through the multi-hot encoder: NSR on 10 records, PAC(=SVPB) on 14, RBBB merged.
    classes = dx.scored_classes()
    m, c = dx.labels_to_multihot([r.labels for r in sample_records], classes, on_unknown="raise")
    assert m[:, classes.index("426783006")].sum() == 10
    assert m[:, classes.index("284470004|63593006")].sum() == 14
    assert m[:, classes.index("713427006|59118001")].sum() == 1
    assert c["unscored"] == {"55930002": 5, "164873001": 3, "55827005": 2, "67741000119109": 1,
                             "253352002": 1, "428750005": 1, "251170000": 1}


def test_iter_is_lazy_and_sorted():
    it = iter_wfdb_folder(SAMPLE)
    first = next(it)
    assert first.record_id == "E07500"
    assert sum(1 for _ in it) == 34


# ----------------------------------------------------------------------------- writer round trip
def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(3):
        n_leads = (12, 12, 3)[k]
        x = _rand_signals(rng, n_leads, 777 + k)
        names = list(STANDARD_LEADS[:n_leads])
        hea = write_wfdb_mat_record(
            tmp_path / f"R{k}", x, 500 if k else 257.5, names, age=(63, None, 45.5)[k],
            sex=("F", None, "Male")[k], dx=(["426783006", "59118001"], [], ["164889003"])[k],
        )
        assert hea == tmp_path / f"R{k}.hea"
        mat = tmp_path / f"R{k}.mat"
        assert mat.stat().st_size == 24 + 2 * x.size  # the 16x1+24 convention
        rec = read_wfdb_record(hea)
        assert rec.signals.shape == x.shape and rec.lead_names == names
        np.testing.assert_allclose(rec.signals, x, atol=0.5 / 1000 + 1e-6)
        assert rec.fs_hz == (257.5, 500.0, 500.0)[k]
        assert rec.age == (63.0, None, 45.5)[k] and rec.sex == ("F", None, "M")[k]
        assert rec.labels == (["426783006", "59118001"], [], ["164889003"])[k]
        val = scipy.io.loadmat(str(mat))["val"]
        assert val.dtype == np.int16
        np.testing.assert_array_equal(val, np.round(x * 1000).astype(np.int16))
        ref = wfdb.rdrecord(str(tmp_path / f"R{k}"))  # checks byte offset and checksums
        np.testing.assert_allclose(ref.p_signal.T, rec.signals, atol=1e-6)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_writer_rejects_out_of_range_and_bad_args(tmp_path):
    with pytest.raises(ValueError, match="lower the gain"):
        write_wfdb_mat_record(tmp_path / "r", np.full((1, 10), 40.0), 500, ["I"])
    write_wfdb_mat_record(tmp_path / "r", np.full((1, 10), 40.0), 500, ["I"], gain=500.0)
    assert read_wfdb_record(tmp_path / "r").signals.max() == pytest.approx(40.0)
    with pytest.raises(ValueError, match="lead names"):
        write_wfdb_mat_record(tmp_path / "r", np.zeros((2, 10)), 500, ["I"])
    with pytest.raises(ValueError, match="NaN"):
        write_wfdb_mat_record(tmp_path / "r", np.full((1, 10), np.nan), 500, ["I"])


def test_microvolt_units_are_converted(tmp_path):
    x = _rand_signals(np.random.default_rng(1), 2, 100)
    hea = write_wfdb_mat_record(tmp_path / "u", x, 500, ["I", "II"])
    hea.write_text(hea.read_text().replace("(0)/mV", "(0)/uV"))
    rec = read_wfdb_record(hea)
    np.testing.assert_allclose(rec.signals, np.round(x * 1000) / 1000 / 1000, atol=1e-9)
    assert rec.units == "mV" and rec.meta["header_units"] == ["uV", "uV"]
    hea.write_text(hea.read_text().replace("(0)/uV", "(0)/mmHg"))
    with pytest.raises(InputFileError, match="u.hea.*mmHg"):
        read_wfdb_record(hea)


def test_baseline_is_subtracted(tmp_path):
    x = _rand_signals(np.random.default_rng(2), 1, 50)
    hea = write_wfdb_mat_record(tmp_path / "b", x, 500, ["II"])
    hea.write_text(hea.read_text().replace("1000.0(0)/mV", "1000.0(25)/mV"))
    np.testing.assert_allclose(read_wfdb_record(hea).signals[0], (np.round(x[0] * 1000) - 25) / 1000, atol=1e-6)


def test_missing_age_and_sex(tmp_path):
    hea = write_wfdb_mat_record(tmp_path / "a", np.zeros((1, 10)), 500, ["I"], age=50, sex="M", dx=["426783006"])
    text = hea.read_text().replace("# Age: 50", "# Age: NaN").replace("# Sex: Male", "# Sex: Unknown")
    hea.write_text(text)
    rec = read_wfdb_record(hea)
    assert rec.age is None and rec.sex is None
    hea.write_text("\n".join(line for line in text.splitlines() if not line.startswith(("# Age", "# Sex"))) + "\n")
    rec = read_wfdb_record(hea)
    assert rec.age is None and rec.sex is None and rec.labels == ["426783006"]


def test_unknown_dx_policy(tmp_path, caplog):
    hea = write_wfdb_mat_record(tmp_path / "d", np.zeros((1, 10)), 500, ["I"], dx=["426783006", "999999"])
    with caplog.at_level("WARNING", logger="sigvision.loaders.ecg"):
        rec = read_wfdb_record(hea)
    assert any("999999" in r.message for r in caplog.records)
    assert rec.labels == ["426783006", "999999"] and rec.meta["unknown_labels"] == ["999999"]
    with pytest.raises(InputFileError, match=r"d\.hea.*999999.*data\.label_map"):
        read_wfdb_record(hea, on_unknown="raise")
    caplog.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_wfdb_record(hea, on_unknown="ignore").labels == ["426783006", "999999"]
    assert not caplog.records
    # A folder reports once, with the count.
    write_wfdb_mat_record(tmp_path / "e", np.zeros((1, 10)), 500, ["I"], dx=["999999"])
    with caplog.at_level("WARNING", logger="sigvision.loaders.ecg"):
        recs = load_wfdb_folder(tmp_path)
    assert sum("'999999': 2" in r.message for r in caplog.records) == 1
    assert [r.record_id for r in recs] == ["d", "e"]
    with pytest.raises(InputFileError, match="999999"):
        load_wfdb_folder(tmp_path, on_unknown="raise")
    with pytest.raises(ValueError, match="on_unknown"):
        read_wfdb_record(hea, on_unknown="maybe")


# ----------------------------------------------------------------------------- .dat records
@pytest.mark.parametrize("fmt", ["16", "212"])
def test_dat_records_via_wfdb(tmp_path, fmt):
    rng = np.random.default_rng(3)
    d = rng.integers(-1500, 1500, size=(1001, 3))
    wfdb.wrsamp("rec", fs=360, units=["mV", "mV", "uV"], sig_name=["I", "II", "V1"], d_signal=d,
                fmt=[fmt] * 3, adc_gain=[200.0, 400.0, 0.5], baseline=[0, 10, -5], write_dir=str(tmp_path))
    rec = read_wfdb_record(tmp_path / "rec")
    assert rec.meta["format"] == "wfdb-dat" and rec.fs_hz == 360.0
    expected = np.stack([d[:, 0] / 200.0, (d[:, 1] - 10) / 400.0, (d[:, 2] + 5) / 0.5 / 1000.0])
    np.testing.assert_allclose(rec.signals, expected, rtol=1e-6, atol=1e-6)
    assert rec.labels == [] and rec.age is None


def test_dat_invalid_sample_and_truncation(tmp_path):
    d = np.zeros((100, 1), dtype=int)
    d[5, 0] = -32768  # WFDB's "missing sample" marker in format 16
    wfdb.wrsamp("bad", fs=500, units=["mV"], sig_name=["I"], d_signal=d, fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(tmp_path))
    with pytest.raises(InputFileError, match=r"bad\.dat.*1 non-finite or invalid"):
        read_wfdb_record(tmp_path / "bad")
    d[5, 0] = 0
    wfdb.wrsamp("short", fs=500, units=["mV"], sig_name=["I"], d_signal=d, fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(tmp_path))
    dat = tmp_path / "short.dat"
    dat.write_bytes(dat.read_bytes()[:-20])
    with pytest.raises(InputFileError, match=r"short\.dat.*holds 90 samples.*declares 100"):
        read_wfdb_record(tmp_path / "short")
    dat.unlink()
    with pytest.raises(InputFileError, match=r"short\.dat.*missing"):
        read_wfdb_record(tmp_path / "short")


# ----------------------------------------------------------------------------- bad inputs
@pytest.fixture()
def good_record(tmp_path):
    x = _rand_signals(np.random.default_rng(4), 12, 500)
    hea = write_wfdb_mat_record(tmp_path / "G1", x, 500, STANDARD_LEADS, age=40, sex="F", dx=["426783006"])
    return hea


def test_mat_without_val_lists_variables(good_record):
    mat = good_record.with_suffix(".mat")
    scipy.io.savemat(str(mat), {"ecg": np.zeros((12, 500), dtype=np.int16)}, format="4")
    with pytest.raises(InputFileError, match=r"G1\.mat.*no variable 'val'.*ecg \(12, 500\)"):
        read_wfdb_record(good_record)


def test_lead_count_disagreement(good_record):
    scipy.io.savemat(str(good_record.with_suffix(".mat")), {"val": np.zeros((11, 500), dtype=np.int16)}, format="4")
    with pytest.raises(InputFileError, match=r"G1\.mat.*11 leads.*declares 12"):
        read_wfdb_record(good_record)
    scipy.io.savemat(str(good_record.with_suffix(".mat")), {"val": np.zeros((500, 12), dtype=np.int16)}, format="4")
    with pytest.raises(InputFileError, match="transposed"):
        read_wfdb_record(good_record)


def test_sample_count_disagreement(good_record):
    scipy.io.savemat(str(good_record.with_suffix(".mat")), {"val": np.zeros((12, 499), dtype=np.int16)}, format="4")
    with pytest.raises(InputFileError, match=r"G1\.mat.*499 samples.*declares 500"):
        read_wfdb_record(good_record)


def test_nonfinite_mat_values(good_record):
    val = np.zeros((12, 500))
    val[3, 7] = np.nan
    scipy.io.savemat(str(good_record.with_suffix(".mat")), {"val": val}, format="4")
    with pytest.raises(InputFileError, match=r"G1\.mat.*1 non-finite.*aVR"):
        read_wfdb_record(good_record)


def test_missing_data_file(good_record):
    good_record.with_suffix(".mat").unlink()
    with pytest.raises(InputFileError, match=r"G1\.mat: data file referenced by G1\.hea is missing"):
        read_wfdb_record(good_record)


def test_missing_header(tmp_path):
    with pytest.raises(InputFileError, match=r"nothere\.hea.*not found"):
        read_wfdb_record(tmp_path / "nothere")


@pytest.mark.parametrize(
    "old, new, match",
    [
        ("G1 12 500 500", "G1 12 abc 500", "sampling frequency 'abc'"),
        ("G1 12 500 500", "G1 twelve 500 500", "number of signals 'twelve'"),
        ("G1 12 500 500", "G1 13 500 500", "declares 13 signals but 12 signal lines"),
        ("G1.mat 16x1+24 1000.0(0)/mV 16 0", "G1.mat 16y1+24 1000.0(0)/mV 16 0", "storage format '16y1\\+24'"),
        ("G1.mat 16x1+24 1000.0(0)/mV 16 0", "G1.mat 16x1+24 1k(0)/mV 16 0", "gain field '1k\\(0\\)/mV'"),
        ("G1.mat 16x1+24 1000.0(0)/mV 16 0", "G1.mat 16x1+24 1000.0(0)/mV sixteen 0", "adc res 'sixteen'"),
    ],
)
def test_corrupt_header(good_record, old, new, match):
    text = good_record.read_text()
    assert old in text
    good_record.write_text(text.replace(old, new, 1))
    with pytest.raises(InputFileError, match=r"G1\.hea: .*" + match):
        read_wfdb_record(good_record)


def test_empty_header(good_record):
    good_record.write_text("# Age: 3\n")
    with pytest.raises(InputFileError, match=r"G1\.hea.*no record line"):
        parse_wfdb_header(good_record)


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match=r"empty: folder is empty"):
        load_wfdb_folder(empty)
    with pytest.raises(InputFileError, match=r"empty: folder is empty"):
        iter_wfdb_folder(empty)  # raised eagerly, before iteration
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(InputFileError, match=r"other: folder holds no WFDB header"):
        load_wfdb_folder(other)
    with pytest.raises(InputFileError, match=r"nope: folder does not exist"):
        load_wfdb_folder(tmp_path / "nope")


def test_recursive_folder(tmp_path):
    (tmp_path / "g1").mkdir()
    (tmp_path / "g2").mkdir()
    shutil.copy(SAMPLE / "E07500.hea", tmp_path / "g2")
    shutil.copy(SAMPLE / "E07500.mat", tmp_path / "g2")
    shutil.copy(SAMPLE / "HR06000.hea", tmp_path / "g1")
    shutil.copy(SAMPLE / "HR06000.mat", tmp_path / "g1")
    with pytest.raises(InputFileError, match="recursive=True"):
        load_wfdb_folder(tmp_path)
    assert [r.record_id for r in load_wfdb_folder(tmp_path, recursive=True)] == ["E07500", "HR06000"]


# ----------------------------------------------------------------------------- Hefei
def _write_hefei(path: Path, cols: dict[str, np.ndarray], order=("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")):
    rows = np.stack([cols[n] for n in order], axis=1)
    lines = [" ".join(order)] + [" ".join(str(int(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_hefei_derives_limb_leads(tmp_path):
    n = 5000
    t = np.arange(n) / 500.0
    rng = np.random.default_rng(5)
    cols = {"I": np.round(200 * np.sin(2 * np.pi * 1.2 * t)), "II": np.round(300 * np.cos(2 * np.pi * 0.7 * t) + 17)}
    for v in ("V1", "V2", "V3", "V4", "V5", "V6"):
        cols[v] = rng.integers(-400, 400, n)
    f = tmp_path / "100.txt"
    _write_hefei(f, cols, order=("II", "I", "V1", "V2", "V3", "V4", "V5", "V6"))  # order read from the header
    rec = read_hefei_txt(f)
    assert rec.signals.shape == (12, n) and rec.lead_names == list(STANDARD_LEADS)
    assert rec.fs_hz == 500.0 and rec.units == "mV" and rec.record_id == "100"
    s = {name: rec.signals[i].astype(np.float64) for i, name in enumerate(STANDARD_LEADS)}
    np.testing.assert_allclose(s["I"], cols["I"] * 4.88e-3, atol=1e-5)
    np.testing.assert_allclose(s["V3"], cols["V3"] * 4.88e-3, atol=1e-5)
    np.testing.assert_allclose(s["III"], s["II"] - s["I"], atol=1e-5)
    np.testing.assert_allclose(s["aVR"], -(s["I"] + s["II"]) / 2, atol=1e-5)
    np.testing.assert_allclose(s["aVL"], s["I"] - s["II"] / 2, atol=1e-5)
    np.testing.assert_allclose(s["aVF"], s["II"] - s["I"] / 2, atol=1e-5)
    np.testing.assert_allclose(s["I"] + s["III"], s["II"], atol=1e-5)  # Einthoven
    np.testing.assert_allclose(s["aVR"] + s["aVL"] + s["aVF"], 0, atol=1e-5)  # Goldberger
    rec2 = read_hefei_txt(f, uv_per_count=1.0)
    np.testing.assert_allclose(rec2.signals[0], cols["I"] / 1000.0, atol=1e-6)


def test_derive_limb_leads_values():
    out = derive_limb_leads(np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    np.testing.assert_allclose(out, [[-1, 2], [-0.5, -1], [1, -1], [-0.5, 2]])


def test_hefei_bad_files(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("I II III V1 V2 V3 V4 V5\n1 2 3 4 5 6 7 8\n")
    with pytest.raises(InputFileError, match=r"bad\.txt.*expected the 8 leads"):
        read_hefei_txt(f)
    f.write_text("I II V1 V2 V3 V4 V5 V6\n1 2 3 4 5 6 7 8\n1 2 3 4 5 6 7\n")
    with pytest.raises(InputFileError, match=r"bad\.txt: line 3 has 7 columns"):
        read_hefei_txt(f)
    f.write_text("I II V1 V2 V3 V4 V5 V6\n1 2 3 4 x 6 7 8\n")
    with pytest.raises(InputFileError, match=r"bad\.txt: line 2 holds a non-numeric"):
        read_hefei_txt(f)


def test_hefei_label_table_contest_layout(tmp_path):
    """'<id>.txt<TAB>age<TAB>MALE|FEMALE<TAB>label...' (hf_round1_label.txt): age and sex are
    not labels; empty age/sex are None; the test lists carry no labels."""
    f = tmp_path / "hf_round1_label.txt"
    f.write_text("0.txt\t40\tFEMALE\t窦性心律\t电轴左偏\r\n1.txt\t\tMALE\t心房颤动\r\n"
                 "2.txt\t72\t\t窦性心律\t\r\n3.txt\t\t\t\r\n", encoding="utf-8")
    t = read_hefei_label_table(f)
    assert list(t) == ["0", "1", "2", "3"]
    assert (t["0"].labels, t["0"].age, t["0"].sex) == (["窦性心律", "电轴左偏"], 40.0, "F")
    assert (t["1"].labels, t["1"].age, t["1"].sex) == (["心房颤动"], None, "M")
    assert (t["2"].labels, t["2"].age, t["2"].sex) == (["窦性心律"], 72.0, None)
    assert (t["3"].labels, t["3"].age, t["3"].sex) == ([], None, None)
    sub = tmp_path / "hf_round1_subA.txt"  # test list: no labels
    sub.write_text("100.txt\t59\tMALE\n101.txt\t\tFEMALE\n", encoding="utf-8")
    t = read_hefei_label_table(sub)
    assert [(r.labels, r.age, r.sex) for r in t.values()] == [([], 59.0, "M"), ([], None, "F")]
    gbk = tmp_path / "gbk.txt"  # a GBK copy reads the same
    gbk.write_bytes("0.txt\t40\tFEMALE\t窦性心律\n".encode("gbk"))
    assert read_hefei_label_table(gbk)["0"].labels == ["窦性心律"]


def test_hefei_label_table_labels_only_layout(tmp_path):
    """Without MALE/FEMALE in the third column every cell after the id is a label, numeric
    labels included."""
    f = tmp_path / "l.txt"
    f.write_text("0.txt\tsinus\n1.txt\tAF\tPVC\n")
    t = read_hefei_label_table(f)
    assert [(r.labels, r.age, r.sex) for r in t.values()] == [(["sinus"], None, None), (["AF", "PVC"], None, None)]
    f.write_text("r0,1,2\nr1,0,\n")
    t = read_hefei_label_table(f)
    assert [(r.labels, r.age, r.sex) for r in t.values()] == [(["1", "2"], None, None), (["0"], None, None)]


@pytest.mark.parametrize("text,match", [
    ("0.txt\t40\tFEMALE\tAF\n1.txt\tforty\tMALE\tAF\n",
     r"lab\.txt: line 2: age 'forty' is not a number.*age empty when unknown"),
    ("0.txt\t40\tFEMALE\tAF\n1.txt\t50\tX\tAF\n", r"lab\.txt: line 2: sex 'X' is not MALE or FEMALE"),
    ("0.txt\t40\tFEMALE\tAF\n0.txt\t41\tFEMALE\tPVC\n", r"record '0' is listed twice \(lines 1 and 2\)"),
    (None, r"lab\.txt: label table not found"),
])
def test_hefei_label_table_bad_rows(tmp_path, text, match):
    f = tmp_path / "lab.txt"
    if text is not None:
        f.write_text(text)
    with pytest.raises(InputFileError, match=match):
        read_hefei_label_table(f)


def test_iter_hefei_folder_attaches_age_sex_labels(tmp_path):
    rng = np.random.default_rng(2)
    cols = {n: rng.integers(-100, 100, 50) for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")}
    for rid in ("7", "8"):
        _write_hefei(tmp_path / f"{rid}.txt", cols)
    lab = tmp_path / "hf_round1_label.txt"  # inside the folder: not read as a record
    lab.write_text("7.txt\t63\tMALE\t窦性心律\n")
    recs = list(iter_hefei_folder(tmp_path, lab))
    assert [r.record_id for r in recs] == ["7", "8"]
    assert (recs[0].age, recs[0].sex, recs[0].labels) == (63.0, "M", ["窦性心律"])
    assert (recs[1].age, recs[1].sex, recs[1].labels) == (None, None, [])  # not in the table
    with pytest.raises(InputFileError, match="no .txt ECG files"):
        iter_hefei_folder(tmp_path / "empty")


# ----------------------------------------------------------------------------- AIWIN
def _aiwin_folder(tmp_path, names=("A0001", "A0002", "A0003")):
    rng = np.random.default_rng(6)
    d = tmp_path / "Train"
    d.mkdir()
    data = {}
    for i, n in enumerate(names):
        x = rng.normal(0, 0.5, size=(12, 5000))
        data[n] = x
        # The last file stores samples x leads under another name: both are accepted.
        content = {"ecgdata": x} if i < len(names) - 1 else {"signal": x.T}
        scipy.io.savemat(str(d / f"{n}.mat"), content)
    return d, data


def _write_csv(path, rows, header=("name", "tag")):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(header)
        w.writerows(rows)


def test_aiwin_folder_with_labels(tmp_path):
    d, data = _aiwin_folder(tmp_path)
    lab = tmp_path / "trainreference.csv"
    _write_csv(lab, [("A0002", 1), ("A0001", 0), ("A0003", 1)])
    recs = read_aiwin_folder(d, lab)
    assert [r.record_id for r in recs] == ["A0001", "A0002", "A0003"]
    assert [r.labels for r in recs] == [["0"], ["1"], ["1"]]
    for r in recs:
        assert r.signals.shape == (12, 5000) and r.fs_hz == 500.0 and r.units == "mV"
        assert r.lead_names == list(STANDARD_LEADS)
        np.testing.assert_allclose(r.signals, data[r.record_id], atol=1e-6)
    assert recs[0].meta["variable"] == "ecgdata" and recs[2].meta["variable"] == "signal"
    # Without a header row, and with several labels per row (task 2 style).
    _write_csv(lab, [("A0001.mat", 3, 5), ("A0002", 1), ("A0003", 12)], header=None)
    assert [r.labels for r in read_aiwin_folder(d, lab)] == [["3", "5"], ["1"], ["12"]]
    assert [r.labels for r in read_aiwin_folder(d)] == [[], [], []]


def test_aiwin_folder_streams_one_record_at_a_time(tmp_path, monkeypatch):
    """prepare reads an AIWIN folder record by record (it read all of them into one list
    first: about 10 GB of signals for 40,000 records); the folder and CSV are still checked
    when the iterator is made, before any record is read."""
    import sigvision.loaders.aiwin as E

    d, _ = _aiwin_folder(tmp_path)
    lab = tmp_path / "trainreference.csv"
    _write_csv(lab, [("A0002", 1), ("A0001", 0), ("A0003", 1)])
    reads = []
    real = E.read_aiwin_mat
    monkeypatch.setattr(E, "read_aiwin_mat", lambda p, **kw: reads.append(p) or real(p, **kw))
    it = E.iter_aiwin_folder(d, lab)
    assert reads == []
    assert next(it).record_id == "A0001" and len(reads) == 1
    assert [r.record_id for r in it] == ["A0002", "A0003"]
    _write_csv(lab, [("A0001", 0)])
    with pytest.raises(InputFileError, match="absent from"):
        E.iter_aiwin_folder(d, lab)  # raised at the call, not at the first next()


def test_aiwin_mismatch_is_reported(tmp_path, caplog):
    d, _ = _aiwin_folder(tmp_path)
    lab = tmp_path / "ref.csv"
    _write_csv(lab, [("A0001", 0), ("A0002", 1), ("A0009", 1)])
    with pytest.raises(InputFileError, match=r"ref\.csv: 1 record\(s\) listed in ref\.csv have no \.mat file.*A0009.*"
                                             r"1 \.mat file\(s\) are absent from ref\.csv: A0003"):
        read_aiwin_folder(d, lab)
    _write_csv(lab, [("A0001", 0), ("A0002", 1), ("A0003", 1)], header=("ecg_id", "label"))
    with pytest.raises(InputFileError, match="has_header=True"):
        read_aiwin_folder(d, lab)
    assert len(read_aiwin_folder(d, lab, has_header=True)) == 3
    _write_csv(lab, [("A0001", 0), ("A0002", 1), ("A0009", 1)])
    with caplog.at_level("WARNING", logger="sigvision.loaders.ecg"):
        recs = read_aiwin_folder(d, lab, on_mismatch="warn")
    assert any("A0009" in r.message for r in caplog.records)
    assert [(r.record_id, r.labels) for r in recs] == [("A0001", ["0"]), ("A0002", ["1"]), ("A0003", [])]


def test_aiwin_bad_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match=r"empty: folder holds no \.mat"):
        read_aiwin_folder(empty)
    f = tmp_path / "two.mat"
    scipy.io.savemat(str(f), {"a": np.zeros((12, 10)), "b": np.zeros((12, 10))})
    with pytest.raises(InputFileError, match=r"two\.mat.*found 2.*variables present: a \(12, 10\), b \(12, 10\)"):
        read_aiwin_mat(f)
    assert read_aiwin_mat(f, variable="b").signals.shape == (12, 10)
    scipy.io.savemat(str(f), {"ecgdata": np.zeros((11, 10))})
    with pytest.raises(InputFileError, match=r"two\.mat.*shape \(11, 10\)"):
        read_aiwin_mat(f)


# ----------------------------------------------------------------------------- helpers
def test_resample_ecg():
    fs = 500
    t = np.arange(5000) / fs
    x = np.stack([np.sin(2 * np.pi * 5 * t), np.cos(2 * np.pi * 3 * t)]).astype(np.float32)
    y = resample_ecg(x, 500, 250)
    assert y.shape == (2, 2500) and y.dtype == np.float32
    t2 = np.arange(2500) / 250
    np.testing.assert_allclose(y[0, 100:-100], np.sin(2 * np.pi * 5 * t2[100:-100]), atol=1e-2)
    assert resample_ecg(x[:, :1000], 500, 257).shape == (2, 514)
    assert resample_ecg(x[:, :360], 360, 500).shape == (2, 500)
    z = resample_ecg(x, 500, 500)
    assert z is not x and np.array_equal(z, x)
    with pytest.raises(ValueError, match="max_denominator"):
        resample_ecg(x, 500, 500 * np.pi, max_denominator=10)  # 22/7 is 4e-4 off
    with pytest.raises(ValueError, match="positive"):
        resample_ecg(x, 0, 500)


def test_fix_length():
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    assert fix_length(x, 6).tolist() == [[2, 3, 4, 5, 6, 7]]
    assert fix_length(x, 6, mode="start").tolist() == [[0, 1, 2, 3, 4, 5]]
    assert fix_length(x, 13).tolist() == [[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0]]  # 1 before, 2 after
    assert fix_length(x, 13, pad="edge").tolist() == [[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9]]
    assert fix_length(x, 12, mode="start", pad="edge").tolist() == [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9]]
    assert fix_length(x, 12).dtype == np.float32
    with pytest.raises(ValueError, match="mode"):
        fix_length(x, 5, mode="end")
    with pytest.raises(ValueError, match="pad"):
        fix_length(x, 5, pad="reflect")
