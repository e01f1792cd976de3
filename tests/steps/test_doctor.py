"""`sigvision doctor` / `sigvision weights`: versions, GPUs, pretrained-weight reachability."""
import json
import platform
import time


from sigvision.steps.doctor import PRESET_MODELS, check_hub, doctor_report, format_doctor, format_weights_table, hub_repo_for, weights_table


def test_report_has_versions_gpus_and_weights(monkeypatch, tmp_path):
    import timm
    import torch

    (tmp_path / "vit_base_patch16_224.safetensors").write_bytes(b"x")
    monkeypatch.setenv("SIGVISION_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = doctor_report()
    json.dumps(d)  # JSON-able
    assert d["python"]["version"] == platform.python_version()
    assert d["torch"]["version"] == torch.__version__ and d["torch"]["cuda_build"] == torch.version.cuda
    assert d["libraries"]["timm"] == timm.__version__
    assert d["torch"]["gpu_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert "version" in d["driver"] and d["driver"]["source"]
    pre = d["pretrained"]
    assert pre["HF_HUB_OFFLINE"] is True and pre["hub"]["checked"] is False and "HF_HUB_OFFLINE" in pre["hub"]["detail"]
    assert pre["folder_exists"] and pre["folder_files"] == ["vit_base_patch16_224.safetensors"]
    by = {p["model"]: p for p in pre["presets"]}
    assert set(by) == set(PRESET_MODELS)
    assert by["vit_base_patch16_224"]["local_file"] == str(tmp_path / "vit_base_patch16_224.safetensors")
    assert by["vit_base_patch16_224"]["available"] is True
    text = format_doctor(d)
    for needle in (f"python        {platform.python_version()}", f"torch         {torch.__version__}",
                   f"timm          {timm.__version__}", "driver", "GPUs", "HF_HUB_OFFLINE 1",
                   "vit_base_patch16_224   ok"):
        assert needle in text, needle
    if not by["tf_efficientnet_b4_ns"]["available"]:
        assert "NOT FOUND: put tf_efficientnet_b4_ns.safetensors" in text


def test_hub_check_never_hangs(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False, raising=False)

    def slow(repo, timeout):
        time.sleep(30)
        return "reachable"

    t0 = time.perf_counter()
    r = check_hub("timm/x", timeout=0.3, head=slow)
    assert time.perf_counter() - t0 < 5
    assert r == {"checked": True, "reachable": False, "detail": "no answer within 0.3 s (timeout)"}

    def boom(repo, timeout):
        raise OSError("Name or service not known")

    r = check_hub("timm/x", head=boom)
    assert r["reachable"] is False and "OSError" in r["detail"] and "Name or service" in r["detail"]
    assert check_hub("timm/x", head=lambda repo, t: "reachable (ok)")["reachable"] is True
    d = doctor_report(head=lambda repo, t: f"reachable ({repo})")
    assert d["pretrained"]["hub"]["reachable"] is True
    assert all(p["available"] for p in d["pretrained"]["presets"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert check_hub("timm/x", head=slow)["checked"] is False


def test_hub_repo_names_follow_timm():
    assert hub_repo_for("vit_base_patch16_224").startswith("timm/vit_base_patch16_224")
    assert hub_repo_for("tf_efficientnet_b4_ns") == "timm/tf_efficientnet_b4.ns_jft_in1k"  # deprecated alias
    assert hub_repo_for("no_such_model") is None


def test_weights_table_lists_presets_and_expected_files(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGVISION_WEIGHTS", str(tmp_path))
    (tmp_path / "tf_efficientnet_b4_ns.pth").write_bytes(b"x")
    rows = weights_table()
    by = {r["preset"]: r for r in rows}
    assert {"sleep_vit_b16.yaml", "sleep_effnet_b4.yaml", "sleep_demo.yaml"} <= set(by)
    vit = by["sleep_vit_b16.yaml"]
    assert vit["model"] == "vit_base_patch16_224" and vit["pretrained"]
    assert vit["expected"][0] == "vit_base_patch16_224.safetensors" and vit["found"] is None
    eff = by["sleep_effnet_b4.yaml"]
    assert eff["found"] == str(tmp_path / "tf_efficientnet_b4_ns.pth")
    assert by["sleep_demo.yaml"]["pretrained"] is False
    assert by["ecg_demo_1d.yaml"]["expected"] == []  # sigvision's own 1-D model: no pretrained file
    text = format_weights_table(rows)
    assert f"SIGVISION_WEIGHTS={tmp_path}" in text
    assert "$SIGVISION_WEIGHTS/vit_base_patch16_224.safetensors" in text
    assert f"found: {tmp_path / 'tf_efficientnet_b4_ns.pth'}" in text

    # an installed package without configs/: the two pretrained presets by model name
    rows = weights_table(tmp_path / "no_configs")
    assert [r["model"] for r in rows] == list(PRESET_MODELS)
    monkeypatch.delenv("SIGVISION_WEIGHTS")
    assert "SIGVISION_WEIGHTS is not set" in format_weights_table(weights_table(tmp_path / "no_configs"))


def test_weights_table_reports_unreadable_configs(tmp_path):
    (tmp_path / "broken.yaml").write_text("model: {nme: x}\n")
    (tmp_path / "ok.yaml").write_text("model: {name: vit_base_patch16_224, pretrained_file: /nope.pth, "
                                      "pretrained: true}\n")
    rows = {r["preset"]: r for r in weights_table(tmp_path)}
    assert "config not readable" in rows["broken.yaml"]["note"] and "name" in rows["broken.yaml"]["note"]
    assert rows["ok.yaml"]["found"] is None and "MISSING" in rows["ok.yaml"]["note"]
