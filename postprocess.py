#!/usr/bin/env python
"""Context post-processing of the blended predictions -> files_post.csv, as the MAIC 2021
solution's postprocess.py did (clinician rules; an HMM/Viterbi smoother as an option).
A thin wrapper over ``sigvision postprocess``.

    python postprocess.py                                              # the GPU presets' experiment
    python postprocess.py -c configs/sleep_demo.yaml --set postprocess.method=hmm
"""
import sys

from sigvision.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a in ("-c", "--config") or a.startswith("--config=") for a in args):
        args = ["--config", "configs/sleep_vit_b16.yaml", *args]
    raise SystemExit(main(["postprocess", *args]))
