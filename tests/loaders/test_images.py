import cv2
import numpy as np
import pytest

from sigvision.errors import InputFileError
from sigvision.loaders.images import load_image_folder, natural_key, read_image


def _make(root, studies=("s1", "s2"), n=12):
    for s in studies:
        (root / s).mkdir(parents=True)
        for i in range(n):
            img = np.full((20, 30, 3), i * 10, np.uint8)
            cv2.imwrite(str(root / s / f"{s}_{i}.png"), img)


def test_natural_order_and_labels(tmp_path):
    _make(tmp_path / "img")
    rows = ["study,file,label"] + [f"{s},{s}_{i}.png,{['W', 'N1', 'N2', 'N3', 'R'][i % 5]}"
                                   for s in ("s1", "s2") for i in range(12)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    nights = load_image_folder(tmp_path / "img", tmp_path / "labels.csv")
    assert [n.record_id for n in nights] == ["s1", "s2"]
    assert [f.name for f in nights[0].files][:3] == ["s1_0.png", "s1_1.png", "s1_2.png"]
    assert nights[0].files[10].name == "s1_10.png"  # 10 after 9, not after 1
    assert nights[0].labels.tolist() == [i % 5 for i in range(12)]
    assert read_image(nights[0].files[3], (10, 10)).shape == (10, 10, 3)
    assert natural_key("a10") > natural_key("a9")


def test_headerless_csv(tmp_path):
    _make(tmp_path / "img", ("x",), 3)
    (tmp_path / "l.csv").write_text("x,x_0.png,W\nx,x_1.png,N2\nx,x_2.png,REM\n")
    assert load_image_folder(tmp_path / "img", tmp_path / "l.csv")[0].labels.tolist() == [0, 2, 4]


def test_bad_image_folders(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_image_folder(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no study folders"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "e2" / "study").mkdir(parents=True)
    with pytest.raises(InputFileError, match="holds no images") as ei:
        load_image_folder(tmp_path / "e2")
    assert "study" in str(ei.value)
    _make(tmp_path / "img", ("x",), 3)
    (tmp_path / "l.csv").write_text("x,x_0.png,W\n")
    with pytest.raises(InputFileError, match="no label for 2 image"):
        load_image_folder(tmp_path / "img", tmp_path / "l.csv")
    (tmp_path / "img" / "x" / "x_1.png").write_bytes(b"not a png")
    with pytest.raises(InputFileError, match="cannot decode"):
        read_image(tmp_path / "img" / "x" / "x_1.png")
