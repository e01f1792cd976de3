"""Loaders for real file formats, each returning arrays in explicit units.

* PSG: EDF/EDF+ via MNE (:mod:`.psg`), hypnograms in EDF+/text/CSV/JSON (:mod:`.hypnogram`).
* Pre-rendered image folders, MAIC 2021 layout (:mod:`.images`).
* ECG: WFDB (CinC 2020/2021: :mod:`.wfdb`, :mod:`.wfdb_header`), AIWIN .mat folders
  (:mod:`.aiwin`), Hefei 8-lead text (:mod:`.hefei`), what they share (:mod:`.ecg`), label
  tables (:mod:`.dx`).
* Writers (EDF/EDF+ on edfio, WFDB, synthetic PSG) live in :mod:`sigvision.synth`.
"""
from .aiwin import iter_aiwin_folder, read_aiwin_folder
from .base import STAGE_TO_INT, STAGES, ECGRecord, SleepNight
from .dx import code_to_abbreviation, labels_to_multihot, load_dx_tables, scored_classes
from .ecg import STANDARD_LEADS, fix_length, resample_ecg
from .hefei import iter_hefei_folder, read_hefei_label_table, read_hefei_txt
from .hypnogram import (
                        MOVEMENT,
                        UNSCORED,
                        Hypnogram,
                        map_stage_label,
                        map_stage_labels,
                        read_hypnogram,
)
from .images import ImageNight, load_image_folder
from .psg import load_sleep_night, pair_sleep_edf_files, subject_of
from .wfdb import iter_wfdb_folder, load_wfdb_folder, read_wfdb_record

__all__ = [
    "STAGES", "STAGE_TO_INT", "SleepNight", "ECGRecord",
    "Hypnogram", "UNSCORED", "MOVEMENT", "map_stage_label", "map_stage_labels", "read_hypnogram",
    "ImageNight", "load_image_folder",
    "load_sleep_night", "pair_sleep_edf_files", "subject_of",
    "load_dx_tables", "scored_classes", "labels_to_multihot", "code_to_abbreviation",
    "STANDARD_LEADS", "read_wfdb_record", "iter_wfdb_folder", "load_wfdb_folder", "read_aiwin_folder", "iter_aiwin_folder",
    "read_hefei_txt", "read_hefei_label_table", "iter_hefei_folder",
    "resample_ecg", "fix_length",
]
