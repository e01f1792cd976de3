#!/usr/bin/env python
"""Write per-model probability arrays for the blender, as the MAIC 2021 solution's
inferblend.py did: one ``sigvision infer`` per model config.

    python inferblend.py                                              # ViT-B/16 + EfficientNet-B4 presets
    python inferblend.py configs/sleep_demo_vit.yaml configs/sleep_demo_eff.yaml [--set ...]
"""
import sys

from sigvision.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    configs = [a for a in args if a.endswith((".yaml", ".yml"))]
    rest = [a for a in args if a not in configs]
    configs = configs or ["configs/sleep_vit_b16.yaml", "configs/sleep_effnet_b4.yaml"]
    for c in configs:
        rc = main(["infer", "--config", c, *rest])
        if rc:
            raise SystemExit(rc)
