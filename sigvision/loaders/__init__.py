"""Loaders for real file formats, each returning arrays in explicit units.

* PSG: EDF/EDF+ via MNE (:mod:`.psg`), hypnograms in EDF+/text/CSV/JSON (:mod:`.hypnogram`).
* Pre-rendered image folders, MAIC 2021 layout (:mod:`.images`).
* ECG: WFDB (CinC 2020/2021: :mod:`.wfdb`, :mod:`.wfdb_header`), AIWIN .mat folders
  (:mod:`.aiwin`), Hefei 8-lead text (:mod:`.hefei`), what they share (:mod:`.ecg`), label
  tables (:mod:`.dx`).
* Writers (EDF/EDF+ on edfio, WFDB, synthetic PSG) live in :mod:`sigvision.synth`.

Import the reader you need from its module (``from sigvision.loaders.psg import
load_sleep_night``): importing this package imports none of them, so a module that needs the
stage names (:mod:`.base`) does not load MNE, pandas and the ECG readers with them.
"""
