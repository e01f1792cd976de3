#!/usr/bin/env python
"""Train the EfficientNet family (AdamP), as the MAIC 2021 solution's mainEff.py did.
A thin wrapper over ``sigvision train``.

    python mainEff.py                                   # EfficientNet-B4 preset (GPU)
    python mainEff.py -c configs/sleep_demo_eff.yaml    # tiny EfficientNet on CPU
"""
import sys

from sigvision.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a in ("-c", "--config") or a.startswith("--config=") for a in args):
        args = ["--config", "configs/sleep_effnet_b4.yaml", *args]
    raise SystemExit(main(["train", *args]))
