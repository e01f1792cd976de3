"""Which files of a folder are one night: a recording (EDF/BDF/FIF) paired with its hypnogram by
name (Sleep-EDF's ``SC4001E0-PSG.edf`` + ``SC4001EC-Hypnogram.edf``, or ``<name>-Hypnogram.<ext>``),
record and subject ids from file names, and the nights of a folder read in turn."""
from __future__ import annotations

import fnmatch
import logging
import os
import re
from pathlib import Path

from ..errors import InputFileError
from .edfinfo import read_edf_header

log = logging.getLogger(__name__)


_SLEEP_EDF_RE = re.compile(r"^(.*S[CT]\d{3})\d[A-Z][A-Z0-9]$")


def subject_of(record_id: str) -> str:
    """Subject of a night: Sleep-EDF names (``SC4001E0`` -> ``SC400``, also with a prefix:
    ``SYN_SC4001E0`` -> ``SYN_SC400``), else the record id itself."""
    m = _SLEEP_EDF_RE.match(record_id)
    return m.group(1) if m else record_id


def _record_id_of(psg_path: Path) -> str:
    stem = psg_path.name[: -len(".fif.gz")] if psg_path.name.lower().endswith(".fif.gz") else psg_path.stem
    for suf in ("-psg", "_psg"):
        if stem.lower().endswith(suf):
            return stem[: -len(suf)]
    return stem


_HYP_SUFFIXES = ("-hypnogram", "_hypnogram", "-hypno", "_hypno")  # compared case-insensitively


_HYP_EXTS = (".edf", ".txt", ".csv", ".json", ".tsv")


_TEXT_HYP_EXTS = (".txt", ".csv", ".json", ".tsv")


RECORDING_EXTS = (".edf", ".bdf", ".fif")


#: The pairing rule, as the README states it.
PAIRING_RULE = (
    "recordings are the .edf/.bdf/.fif files of the folder (data.file_pattern narrows them), except hypnograms; "
    "hypnograms are files named <key>-Hypnogram (or _Hypnogram, -hypno, _hypno, any case) with extension "
    ".edf/.txt/.csv/.tsv/.json, annotation-only EDF+ files, and text hypnograms (.txt/.csv/.tsv/.json) with a "
    "recording's own name; a recording <id>[-PSG].edf pairs with the hypnograms whose key is <id>, else (Sleep-EDF) "
    "whose key differs from <id> in the last character only; more than one is an error")


def _hyp_key(p: Path) -> str | None:
    """The record key of a hypnogram-named file (``SC4001EC-Hypnogram.edf`` -> ``SC4001EC``), else None."""
    if p.suffix.lower() not in _HYP_EXTS:
        return None
    for suf in _HYP_SUFFIXES:
        if p.stem.lower().endswith(suf):
            return p.stem[: -len(suf)]
    return None


def _annotation_only(p: Path) -> bool:
    """An EDF+ file whose only signal is 'EDF Annotations' (a hypnogram under any name)."""

    if p.suffix.lower() not in (".edf", ".bdf"):
        return False
    try:
        return read_edf_header(p).annotation_only
    except (InputFileError, OSError):
        return False  # read as a recording, where the error is explained


def _is_recording_name(p: Path) -> bool:
    return p.suffix.lower() in RECORDING_EXTS or p.name.lower().endswith(".fif.gz")


def pair_sleep_edf_files(folder: str | os.PathLike, *, require_hypnogram: bool = True, use_hypnograms: bool = True,
                         pattern: str = "") -> list[tuple[Path, Path | None]]:
    """Pair each recording in ``folder`` with its hypnogram file.

    Rule (:data:`PAIRING_RULE`): recordings are the ``.edf``/``.bdf``/``.fif`` files (their
    names need not end in ``-PSG``; ``pattern``, a glob on the file name such as
    ``*-PSG.edf``, narrows them), except hypnograms. Hypnograms are files named
    ``<key>-Hypnogram.<ext>`` (also ``_Hypnogram``, ``-hypno``, ``_hypno``, any case;
    ``.edf``, ``.txt``, ``.csv``, ``.tsv``, ``.json``), EDF+ files holding annotations only
    (key: the file stem), and text hypnograms named as a recording (``night1.edf`` +
    ``night1.txt``). A recording ``<id>.edf`` or ``<id>-PSG.edf`` takes the hypnograms whose
    key is ``<id>`` and, Sleep-EDF style, those whose key differs from ``<id>`` in the last
    character only (``SC4001E0-PSG.edf`` + ``SC4001EC-Hypnogram.edf``) unless another
    recording has that id. Two candidates for one recording, or one hypnogram claimed by
    two recordings, is an error naming them; so are two recordings with one id.

    A recording without a hypnogram raises an error naming it, unless
    ``require_hypnogram=False``, where it pairs with ``None``. ``use_hypnograms=False``
    (``sigvision predict``) pairs every recording with ``None`` without reading any hypnogram.
    """

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "folder not found", "set data.root to the folder holding the EDF files")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    recs, hyps = [], []  # hyps: (key, path)
    for p in files:
        key = _hyp_key(p)
        if key is not None:
            hyps.append((key, p))
        elif _is_recording_name(p):
            if _annotation_only(p):
                hyps.append((p.stem, p))
            elif not pattern or fnmatch.fnmatch(p.name.lower(), pattern.lower()):
                recs.append(p)
    if not recs:
        what = f"no recordings matching data.file_pattern={pattern!r}" if pattern else \
            "no recordings (.edf, .bdf or .fif files)"
        raise InputFileError(folder, what, "put the recordings in this folder" +
                             (", or change data.file_pattern (--set 'data.file_pattern=\"*.edf\"' reads every EDF "
                              "file)" if pattern else ""))
    ids: dict[str, Path] = {}
    for r in recs:
        rid = _record_id_of(r)
        if rid in ids:
            tail = max((r.name[len(rid):], ids[rid].name[len(rid):]), key=len)  # '-PSG.edf' rather than '.edf'
            raise InputFileError(folder, f"two recordings have the record id {rid!r}: {ids[rid].name} and {r.name}",
                                 "keep one of them in the folder, or read only the files named like one of them: "
                                 f"--set 'data.file_pattern=\"*{tail}\"'")
        ids[rid] = r
    if not use_hypnograms:
        return [(r, None) for r in recs]
    stems = {r: r.name[: -len(r.suffix)] for r in recs}
    hyps += [(p.stem, p) for p in files if p.suffix.lower() in _TEXT_HYP_EXTS and _hyp_key(p) is None
             and p.stem in set(stems.values()) | set(ids)]
    claimed: dict[Path, list[Path]] = {}
    pairs = []
    for rid, r in ids.items():
        exact = [h for k, h in hyps if k in (rid, stems[r])]
        near = [h for k, h in hyps if k not in ids and k != rid and len(k) == len(rid) and k[:-1] == rid[:-1]]
        cands = list(dict.fromkeys(exact + near))
        if len(cands) > 1:
            raise InputFileError(r, f"{len(cands)} hypnograms pair with this recording: "
                                    f"{', '.join(h.name for h in cands)}",
                                 "keep the one that belongs to it in the folder (move the others away)")
        hyp = cands[0] if cands else None
        if hyp is None and require_hypnogram:
            raise InputFileError(r, "no hypnogram file found for this recording",
                                 f"add {rid}-Hypnogram.edf (or .txt/.csv/.tsv/.json) next to it")
        if hyp is not None:
            claimed.setdefault(hyp, []).append(r)
        pairs.append((r, hyp))
    for h, rs in claimed.items():
        if len(rs) > 1:
            raise InputFileError(h, f"pairs with {len(rs)} recordings: {', '.join(r.name for r in rs)}",
                                 f"rename it {_record_id_of(rs[0])}-Hypnogram{h.suffix} after the recording it "
                                 "belongs to")
    unused = [h.name for _, h in hyps if h not in claimed]
    if unused:
        log.warning("%s: hypnogram file(s) %s pair with no recording; ignored (%s)", folder, ", ".join(unused),
                    PAIRING_RULE)
    return pairs


