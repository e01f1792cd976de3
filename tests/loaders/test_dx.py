"""Tests of sigvision.loaders.dx (Challenge 2020-2021 label tables)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from sigvision.errors import SigvisionError
from sigvision.loaders import dx

MERGED = {
    "733534002|164909002": ("733534002", "164909002"),  # CLBBB = LBBB
    "713427006|59118001": ("713427006", "59118001"),  # CRBBB = RBBB
    "284470004|63593006": ("284470004", "63593006"),  # PAC = SVPB
    "427172004|17338001": ("427172004", "17338001"),  # PVC = VPB
}


def test_tables_have_every_code_once():
    t = dx.load_dx_tables()
    assert list(t.columns) == ["code", "abbreviation", "name", "scored"]
    assert len(t) == 133
    assert int(t["scored"].sum()) == 30
    assert t["code"].is_unique
    assert all(isinstance(c, str) for c in t["code"])
    row = t.set_index("code").loc["426783006"]
    assert (row["abbreviation"], row["name"], bool(row["scored"])) == ("NSR", "sinus rhythm", True)
    assert not bool(t.set_index("code").loc["55930002", "scored"])  # ST changes: unscored
    # A copy is returned: callers cannot corrupt the cache.
    t.loc[0, "code"] = "x"
    assert dx.load_dx_tables().loc[0, "code"] != "x"


def test_scored_classes_follow_weights_csv():
    merged = dx.scored_classes()
    assert len(merged) == 26
    assert merged[0] == "164889003" and merged[-1] == "59931005"
    for cls in MERGED:
        assert cls in merged
    flat = dx.scored_classes(merge_equivalent=False)
    assert len(flat) == 30
    t = dx.load_dx_tables()
    assert set(flat) == set(t.loc[t["scored"], "code"])
    # Merged ids are replaced in place by their codes.
    for a, b in MERGED.values():
        assert flat.index(b) == flat.index(a) + 1
    assert flat[:4] == merged[:4]
    assert dx.equivalent_codes()["59118001"] == "713427006|59118001"


def test_equivalent_codes_map_to_merged_class():
    classes = dx.scored_classes()
    rows = [["59118001"], ["713427006"], ["59118001", "713427006"], ["63593006"], ["17338001"], ["164909002"]]
    m, counts = dx.labels_to_multihot(rows, classes)
    assert m.dtype == np.uint8 and m.shape == (6, 26)
    rbbb = classes.index("713427006|59118001")
    assert m[:3, rbbb].tolist() == [1, 1, 1]
    assert m[:3].sum(axis=1).tolist() == [1, 1, 1]
    assert m[3, classes.index("284470004|63593006")] == 1
    assert m[4, classes.index("427172004|17338001")] == 1
    assert m[5, classes.index("733534002|164909002")] == 1
    assert counts == {"unknown": {}, "unscored": {}, "scored_not_in_classes": {}}


def test_unmerged_classes_keep_codes_apart():
    flat = dx.scored_classes(merge_equivalent=False)
    m, _ = dx.labels_to_multihot([["59118001"]], flat)
    assert m.sum() == 1 and m[0, flat.index("59118001")] == 1


def test_unscored_code_is_counted_not_a_class():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m, counts = dx.labels_to_multihot([["55930002", "426783006"], ["55930002"]])
    assert m.sum() == 1
    assert counts["unscored"] == {"55930002": 2}
    assert counts["unknown"] == {}


def test_unknown_code_warns_by_default_through_logging(caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # logging, not the warnings module
        with caplog.at_level("WARNING", logger="sigvision.loaders.dx"):
            m, counts = dx.labels_to_multihot([["123", "426783006"], ["426783006"]])
    assert any("1 label" in r.message and "'123'" in r.message for r in caplog.records)
    assert counts["unknown"] == {"123": 1}
    assert m.sum() == 2


def test_unknown_code_raise_names_code_and_record():
    with pytest.raises(SigvisionError, match=r"JS1.*'999'"):
        dx.labels_to_multihot([["426783006"], ["999"]], on_unknown="raise", record_ids=["E1", "JS1"])
    with pytest.raises(SigvisionError, match=r"record #1.*'999'"):
        dx.labels_to_multihot([["426783006"], ["999"]], on_unknown="raise")


def test_unknown_code_ignore_is_silent_but_counted():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, counts = dx.labels_to_multihot([["999"], ["999"], []], on_unknown="ignore")
    assert counts["unknown"] == {"999": 2}


def test_custom_classes_and_int_codes():
    m, counts = dx.labels_to_multihot([["0"], ["1"], [426783006]], ["0", "1", "426783006"], on_unknown="raise")
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    _, counts = dx.labels_to_multihot([["164889003"]], ["426783006"])
    assert counts["scored_not_in_classes"] == {"164889003": 1}


def test_bad_arguments():
    with pytest.raises(ValueError, match="on_unknown"):
        dx.labels_to_multihot([["426783006"]], on_unknown="guess")
    with pytest.raises(SigvisionError, match="single string"):
        dx.labels_to_multihot(["426783006,164934002"])
    with pytest.raises(ValueError, match="two classes"):
        dx.labels_to_multihot([[]], ["59118001", "713427006|59118001"])


def test_code_to_abbreviation():
    assert dx.code_to_abbreviation("426783006") == "NSR"
    assert dx.code_to_abbreviation(284470004) == "PAC"
    assert dx.code_to_abbreviation("713427006|59118001") == "CRBBB|RBBB"
    assert dx.code_to_abbreviation("55930002") == "STC"
    with pytest.raises(KeyError, match="neither"):
        dx.code_to_abbreviation("1")
    assert dx.code_to_abbreviation("1", default=None) is None


def test_abbreviations_match_weights_abbreviations_csv():
    with open(dx.dx_mapping_dir() / "weights_abbreviations.csv", encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")[1:]
    assert [dx.code_to_abbreviation(c) for c in dx.scored_classes()] == header


# ----------------------------------------------------------------------------- CinC 2020 tables
def test_2020_classes_merge_the_three_pairs_of_its_scoring_code():
    merged = dx.scored_classes(challenge="2020")
    flat = dx.scored_classes(merge_equivalent=False, challenge="2020")
    assert len(flat) == 27 and len(merged) == 24
    # the first code of a pair stands for both, at the place of the first code
    assert merged[4] == "713427006|59118001" and "59118001" not in merged
    assert "284470004|63593006" in merged and "427172004|17338001" in merged
    assert "164909002" in merged  # LBBB has no complete/incomplete twin in 2020
    assert "733534002" not in flat  # CLBBB was not scored in 2020
    classes, w = dx.challenge_weights("2020")
    assert classes == merged and w.shape == (24, 24) and np.allclose(np.diag(w), 1)
    # rows of the merged class are those of its first code in the file
    with open(dx.dx_mapping_dir() / "weights_2020.csv", encoding="utf-8") as fh:
        rows = [line.strip().split(",") for line in fh]
    i, j = rows[0].index("713427006"), rows[0].index("164889003")  # CRBBB row, AF column
    assert w[merged.index("713427006|59118001"), merged.index("164889003")] == float(rows[i][j])
    assert dx.equivalent_codes("2020")["63593006"] == "284470004|63593006"
    with pytest.raises(ValueError, match="challenge"):
        dx.scored_classes(challenge="2019")


# ----------------------------------------------------------------------------- label map
@pytest.mark.parametrize("text,codes", [
    ("RBBB", ("59118001",)), ("af", ("164889003",)), ("I-AVB", ("270492004",)), ("Normal", ("426783006",)),
    ("STD", ("429622005",)), ("STE", ("164931005",)), ("59118001", ("59118001",)),
    ("Rhythm: Sinus bradycardia.", ("426177001",)), ("Ischemia: lateral wall. ", ("164861001",)),
    ("Ventricular extrasystole, localisation: RVOT, anterior wall.", ("427172004",)),
    ("Left ventricular hypertrophy.", ("164873001",)), ("Electric axis of the heart: normal.", ()),
    ("STEMI: septal.", ("57054005", "164931005")), ("sinus  RHYTHM", ("426783006",)),
])
def test_label_map_reads_abbreviations_free_text_and_codes(text, codes):
    assert dx.load_label_map().lookup(text) == codes


def test_label_map_unknown_text_is_kept_and_reported():
    labels, unknown = dx.load_label_map().map_labels(["AF", "Martian rhythm.", "RBBB", "AF"])
    assert labels == ["164889003", "Martian rhythm", "59118001"] and unknown == ["Martian rhythm"]


def test_user_label_map_extends_and_overrides(tmp_path):
    f = tmp_path / "my_map.yaml"
    f.write_text("Martian rhythm: 426783006\nAF: [164889003, 195080001]\nno finding: []\n")
    lm = dx.LabelMap(f)
    assert lm.lookup("martian rhythm.") == ("426783006",)
    assert lm.lookup("AF") == ("164889003", "195080001")  # the user's entry wins
    assert lm.lookup("No finding") == () and lm.lookup("RBBB") == ("59118001",)


@pytest.mark.parametrize("text,problem", [
    ("AF: {a: 1}\n", "not a code"), ("- AF\n", "must be a mapping"), ("AF: [1\n", "not valid YAML"),
    ("AF: 1\naf.: 2\n", "same text"),
])
def test_user_label_map_errors_name_the_file(tmp_path, text, problem):
    from sigvision.errors import InputFileError

    f = tmp_path / "bad_map.yaml"
    f.write_text(text)
    with pytest.raises(InputFileError, match=f"bad_map.yaml.*{problem}"):
        dx.LabelMap(f)
    with pytest.raises(InputFileError, match="label map not found"):
        dx.LabelMap(tmp_path / "missing.yaml")
