"""postprocess.submission: aiwin -> answer.csv beside files_post.csv (AIWIN 2021 ECG: task 1
'name,tag', tag 0 normal / 1 abnormal; task 2 'name' + one 0/1 column per class)."""
import numpy as np
import pandas as pd
import pytest

from sigvision.cli import main
from sigvision.config.load import config_from_dict
from sigvision.errors import ConfigError, InputFileError
from sigvision.io.submission import aiwin_answer, submission_path, write_submission


def _cfg(tmp_path, **data):
    d = {"task": "ecg", "format": "aiwin", "ecg_task": "binary", "label_set": "present", "normal_labels": ["0"]}
    d.update(data)
    return config_from_dict({"name": "aiwin", "weights_dir": str(tmp_path / "w"), "data": d,
                             "blend": {"split": "test", "method": "mean", "fit_metric": "none",
                                       "calibrate": False},
                             "postprocess": {"method": "thresholds", "submission": "aiwin"}})


def _binary_post(path):
    # record ids as AIWIN names them, one with leading zeros that must survive
    post = pd.DataFrame({"record": ["A0003", "A0001", "0042", "A0002"],
                         "prob_normal": [0.2, 0.7, 0.4, 0.55], "prob_abnormal": [0.8, 0.3, 0.6, 0.45],
                         "label_normal": [0, 1, 1, 1], "label_abnormal": [1, 0, 1, 0]})
    post.to_csv(path, index=False)
    return post


def test_binary_answer_columns_order_and_tags(tmp_path):
    post_csv = tmp_path / "w" / "aiwin" / "files_post.csv"
    post_csv.parent.mkdir(parents=True)
    post = _binary_post(post_csv)
    out = write_submission(_cfg(tmp_path), post_csv)
    assert out == post_csv.with_name("answer.csv") == submission_path("aiwin", post_csv)
    lines = out.read_text().splitlines()
    assert lines == ["name,tag", "A0003,1", "A0001,0", "0042,1", "A0002,0"]  # files_post order, names verbatim
    ans = pd.read_csv(out, dtype={"name": str})
    assert ans["name"].tolist() == post["record"].tolist()
    assert ans["tag"].tolist() == post["label_abnormal"].tolist()  # the abnormal decision, not prob >= 0.5
    assert sorted(p.name for p in out.parent.iterdir()) == ["answer.csv", "files_post.csv"]  # no temp file left
    # a table that codes normal as 1: the tags flip
    flipped = write_submission(_cfg(tmp_path, normal_labels=["1"]), post_csv, tmp_path / "flipped.csv")
    assert pd.read_csv(flipped)["tag"].tolist() == (1 - post["label_abnormal"]).tolist()


def test_multilabel_answer_has_one_column_per_class_in_numeric_order(tmp_path):
    post = pd.DataFrame({"record": ["B1", "B2", "B3"]})
    classes = ["1", "10", "2", "12"]  # files_post order: string-sorted
    labels = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [0, 0, 0, 1]])
    for j, c in enumerate(classes):
        post[f"prob_{c}"] = labels[:, j] * 0.8
    for j, c in enumerate(classes):
        post[f"label_{c}"] = labels[:, j]
    post_csv = tmp_path / "files_post.csv"
    post.to_csv(post_csv, index=False)
    out = write_submission(_cfg(tmp_path, ecg_task="multilabel"), post_csv)
    ans = pd.read_csv(out, dtype={"name": str})
    assert list(ans.columns) == ["name", "1", "2", "10", "12"]
    assert ans["name"].tolist() == ["B1", "B2", "B3"]
    for c in classes:
        assert ans[c].tolist() == post[f"label_{c}"].tolist(), c
    # class ids that are not numbers keep the files_post order
    named = aiwin_answer(post.rename(columns={"label_10": "label_x", "prob_10": "prob_x"}), ecg_task="multilabel")
    assert list(named.columns) == ["name", "1", "x", "2", "12"]


def test_bad_settings_and_inputs_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="data.normal_labels.*which of them is normal"):
        _cfg(tmp_path, normal_labels=["426783006"])
    with pytest.raises(ConfigError, match="data.task=sleep"):
        config_from_dict({"postprocess": {"submission": "aiwin"}})
    with pytest.raises(ConfigError, match="postprocess.submission='kaggle'.*accepted: none, aiwin"):
        config_from_dict({"data": {"task": "ecg"}, "postprocess": {"submission": "kaggle"}})
    post_csv = tmp_path / "files_post.csv"
    pd.DataFrame({"record": ["A1"], "prob_1": [0.9], "label_1": [1]}).to_csv(post_csv, index=False)
    with pytest.raises(InputFileError, match="files_post.csv: has no label_abnormal column"):
        write_submission(_cfg(tmp_path), post_csv)
    assert not (tmp_path / "answer.csv").exists()
    cfg = _cfg(tmp_path)
    assert write_submission(config_from_dict({"data": {"task": "ecg"}}), post_csv) is None  # submission: none
    assert cfg.postprocess.submission == "aiwin"


def test_postprocess_command_writes_and_names_the_answer_file(tmp_path, capsys):
    """Through `sigvision postprocess` on a test-split blend: files_post.csv and answer.csv
    (thresholds tuned on the OOF blend, as for any test split)."""
    import json

    run = tmp_path / "w" / "aiwin"
    run.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("oof", 20), ("test", 6)):
        p_abn = rng.uniform(0, 1, n)
        pd.DataFrame({"record": [f"{split[0].upper()}{i:03d}" for i in range(n)], "epoch": 0,
                      "prob_normal": 1 - p_abn, "prob_abnormal": p_abn}).to_csv(
            run / f"files_blend_mean_{split}.csv", index=False)
        labels = (p_abn > 0.5).astype(int).tolist() if split == "oof" else None
        (run / f"files_blend_mean_{split}.json").write_text(json.dumps(
            {"classes": ["normal", "abnormal"], "labels": labels, "multilabel": True}))
    yaml = tmp_path / "c.yaml"
    yaml.write_text(f"""name: aiwin
weights_dir: {tmp_path / 'w'}
data: {{task: ecg, format: aiwin, ecg_task: binary, label_set: present, normal_labels: ['0']}}
blend: {{split: test, method: mean, fit_metric: none, calibrate: false}}
postprocess: {{method: thresholds, submission: aiwin}}
""")
    assert main(["--quiet", "postprocess", "-c", str(yaml)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {run / 'answer.csv'} (aiwin answer file)" in printed
    post = pd.read_csv(run / "files_post.csv", dtype={"record": str})
    ans = pd.read_csv(run / "answer.csv", dtype={"name": str})
    assert list(ans.columns) == ["name", "tag"] and ans["name"].tolist() == [f"T{i:03d}" for i in range(6)]
    assert ans["tag"].tolist() == post["label_abnormal"].tolist()
