"""A self-contained HTML page per evaluation (``<weights>/<experiment>/eval/report.html``).

:func:`write_html_report` reads what :func:`sigvision.steps.evaluate.run_evaluate` wrote into the
eval folder, the models' ``fold_<k>/metrics.csv`` files, the blend report and the prepared
folder's ``prepare.json``, writes the PNGs it adds (``training_curves_<model>.png`` and, for
ECG, ``roc.png``) next to the others, and embeds every image as a base64 ``data:`` URI, so
the page opens offline and can be mailed as one file. Its content security policy forbids
any network request (``default-src 'none'; img-src data:``).

Sections: the run (config, data summary, models, blend weights), training curves per model
(one line per fold), the metric tables, then for sleep the confusion matrix, per-night
metrics, sleep statistics and a hypnogram per night (truth above prediction, errors
shaded); for ECG the per-class table and ROC curves of the out-of-fold blend.

All text from files and configs is HTML-escaped. A short inline script counts the images
that decoded (``document.body.dataset.imagesLoaded`` / ``imagesTotal``), which the test
reads back from headless Chromium.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .._version import __version__
from ..config import config_to_dict
from ..errors import InputFileError
from ..io.artifacts import write_bytes, write_text
from ..io.runs import blend_csv_path
from ..loaders.base import STAGES
from ..metrics.classification import record_groups
from ..tasks import task_for
from .plots import _figure, _png, training_curves_png
import yaml

# scikit-learn is imported where a curve is computed (heavy).

__all__ = ["write_html_report", "roc_png", "REPORT_NAME"]

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SCORE_COLUMNS = ("kappa", "challenge", "macro_f1", "auroc", "accuracy")
#: Hypnograms inlined in the report; those of further nights stay files beside it.
MAX_INLINE_HYPNOGRAMS = 60


# ---------------------------------------------------------------------------- ROC
def roc_png(y_true, probs, class_names: Sequence[str], *, title: str = "", max_legend: int = 30,
            figsize: tuple[float, float] = (9.0, 6.0), dpi: int = 100) -> bytes:
    """ROC curves, one per class that has both positive and negative records, as PNG.

    Parameters
    ----------
    y_true : array_like of 0/1 or bool, shape (n, C)
        True labels (multi-hot).
    probs : array_like, shape (n, C)
        Scores per class (probabilities), finite.
    class_names : sequence of str, length C
        Legend names.
    title : str
        Figure title.
    max_legend : int
        Legend entries shown (classes sorted by AUROC, best first).

    Returns
    -------
    bytes
        The PNG file.

    Raises
    ------
    ValueError
        Shapes disagree, labels are not 0/1, scores are not finite, or no class has both
        label values (no curve can be drawn).
    """
    from sklearn.metrics import roc_auc_score, roc_curve


    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim == 1:
        y, p = y[:, None], p.reshape(-1, 1)
    if y.ndim != 2 or y.shape != p.shape or y.shape[0] == 0:
        raise ValueError(f"y_true has shape {y.shape} and probs {p.shape}; accepted: the same (n, C) shape, n > 0")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true holds values other than 0/1; accepted: multi-hot labels")
    if not np.isfinite(p).all():
        raise ValueError("probs holds NaN or infinite values; accepted: finite scores")
    names = [str(c) for c in class_names]
    if len(names) != y.shape[1]:
        raise ValueError(f"class_names has {len(names)} names for {y.shape[1]} classes; accepted: one per class")
    y = y.astype(bool)
    curves = []
    for j in range(y.shape[1]):
        pos = int(y[:, j].sum())
        if 0 < pos < len(y):
            fpr, tpr, _ = roc_curve(y[:, j], p[:, j])
            curves.append((float(roc_auc_score(y[:, j], p[:, j])), names[j], fpr, tpr, pos))
    if not curves:
        raise ValueError("no class has both positive and negative records; ROC curves need both")
    curves.sort(key=lambda c: -c[0])
    fig = _figure(figsize, dpi)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#9e9e9e", lw=0.8, ls="--", zorder=1)
    for i, (auc, name, fpr, tpr, pos) in enumerate(curves):
        label = f"{name} (AUC {auc:.2f}, n={pos})" if i < max_legend else None
        ax.plot(fpr, tpr, lw=1.3, color=f"C{i % 10}", ls="-" if i < 10 else ("--" if i < 20 else ":"),
                label=label, zorder=2)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.grid(color="#e6e6e6", lw=0.6)
    macro = float(np.mean([c[0] for c in curves]))
    sub = f"{len(curves)} of {y.shape[1]} classes with both label values; macro-AUROC {macro:.3f}"
    ax.set_title(f"{title}\n{sub}" if title else sub, fontsize=10)
    fig.legend(loc="outside right center", fontsize=7 if len(curves) > 12 else 8, frameon=False)
    return _png(fig, dpi)


# ---------------------------------------------------------------------------- HTML helpers
def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return "–"
        if f.is_integer() and abs(f) >= 10:
            return str(int(f))
        return f"{f:.3f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) if v else "–"
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return str(v)


def _cell(v) -> str:
    num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
    return f'<td class="num">{_esc(_fmt(v))}</td>' if num else f"<td>{_esc(_fmt(v))}</td>"


def _table(header: Sequence[str], rows: Iterable[Sequence], caption: str = "") -> str:
    out = ['<div class="tw"><table>']
    if caption:
        out.append(f"<caption>{_esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(_cell(v) for v in r) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _frame_table(df, caption: str = "", max_rows: int = 2000) -> str:
    if df is None or len(df) == 0:
        return '<p class="note">(empty)</p>'
    rows = [[None if (isinstance(v, float) and not math.isfinite(v)) else v for v in r]
            for r in df.head(max_rows).itertuples(index=False, name=None)]
    extra = f' <p class="note">{len(df) - max_rows} more row(s) in the CSV.</p>' if len(df) > max_rows else ""
    return _table([str(c) for c in df.columns], rows, caption) + extra


def _kv_table(d: dict, caption: str = "") -> str:
    return _table(["", "value"], [(k, v) for k, v in d.items()], caption)


def _img(png: bytes | None, alt: str, caption: str = "") -> str:
    if not png:
        return f'<p class="note">{_esc(alt)}: image not available.</p>'
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{_esc(alt)}">{cap}</figure>'


def _read_png(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_PNG_MAGIC):
        log.warning("%s is not a PNG file; left out of the report", path)
        return None
    return data


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_csv(path: Path, **kw):
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, **kw)
    except Exception as exc:  # an unreadable CSV is reported, not fatal
        log.warning("%s unreadable (%s); left out of the report", path, type(exc).__name__)
        return None


# ---------------------------------------------------------------------------- sections
def _fold_key(p: Path) -> tuple:
    k = p.parent.name.split("_", 1)[-1]
    return (0, int(k), "") if k.isdigit() else (1, 0, k)


def _model_dirs(cfg, blend_report: dict | None) -> list[Path]:
    run = cfg.run_path
    names = list((blend_report or {}).get("models", [])) + list(cfg.blend.models) + [cfg.model.key]
    if run.is_dir():
        names += sorted(p.name for p in run.iterdir() if p.is_dir() and any(p.glob("fold_*/metrics.csv")))
    out, seen = [], set()
    for n in names:
        d = run / n
        if n not in seen and any(d.glob("fold_*/metrics.csv")):
            out.append(d)
            seen.add(n)
    return out


def _training_section(cfg, eval_dir: Path, blend_report: dict | None) -> str:


    parts = ['<section id="training"><h2>Training curves</h2>']
    dirs = _model_dirs(cfg, blend_report)
    if not dirs:
        parts.append(f'<p class="note">No fold_*/metrics.csv under {_esc(cfg.run_path)}.</p></section>')
        return "".join(parts)
    for mdir in dirs:
        frames = []
        for f in sorted(mdir.glob("fold_*/metrics.csv"), key=_fold_key):
            df = _read_csv(f)
            if df is not None and len(df):
                frames.append(df.assign(fold=f.parent.name.split("_", 1)[-1]))
        parts.append(f"<h3>{_esc(mdir.name)}</h3>")
        if not frames:
            parts.append('<p class="note">metrics.csv files are empty.</p>')
            continue
        allm = pd.concat(frames, ignore_index=True)
        score = next((c for c in _SCORE_COLUMNS if c in allm and np.isfinite(allm[c].astype(float)).any()), None)
        png = None
        if score is not None:
            try:
                png = training_curves_png(allm, title=f"{mdir.name}: {len(frames)} fold(s)", score=score)
                write_bytes(eval_dir / f"training_curves_{mdir.name}.png", png)
            except ValueError as exc:
                parts.append(f'<p class="note">{_esc(exc)}</p>')
        parts.append(_img(png, f"training curves of {mdir.name}",
                          f"losses (left) and validation {score} (right) per epoch; one colour per fold"))
        rows = []
        for fold, g in allm.groupby("fold", sort=False):
            best = g.loc[g[score].astype(float).idxmax()] if score and g[score].notna().any() else g.iloc[-1]
            rows.append([fold, len(g), int(best["epoch"]), best.get(score) if score else None,
                         best.get("val_loss"), g["train_img_s"].mean() if "train_img_s" in g else None])
        parts.append(_table(["fold", "epochs", "best epoch", f"best {score}", "val loss there", "train images/s"],
                            rows))
    parts.append("</section>")
    return "".join(parts)


def _run_section(cfg, blend_report: dict | None) -> str:


    parts = ['<section id="run"><h2>Run</h2>']
    d = cfg.data
    task = task_for(d)
    info = {"experiment": cfg.name, "task": d.task + (f" ({d.ecg_task}, {d.label_set})" if task.signal_kind == "ecg" else ""),
            "data format": d.format, "data root": d.root, "prepared folder": str(cfg.prepared_path),
            "weights folder": str(cfg.run_path)}
    if task.signal_kind == "psg":
        info.update({"channels": list(d.channels), "sampling rate (Hz)": d.fs_hz, "epoch (s)": d.epoch_s})
    else:
        info.update({"leads": list(d.leads), "sampling rate (Hz)": d.fs_hz, "length (s)": d.ecg_length_s})
    info["renderer"] = f"{cfg.render.name} {cfg.render.height}x{cfg.render.width}"
    parts.append(_kv_table(info))
    prep = _read_json(cfg.prepared_path / "prepare.json")
    parts.append("<h3>Data summary</h3>")
    if prep and isinstance(prep.get("summary"), dict):
        s = dict(prep["summary"])
        stage_counts = s.pop("stage_counts", None)
        label_counts = s.pop("label_counts", None)
        parts.append(_kv_table(s, "prepare.json summary"))
        if stage_counts:
            total = max(sum(stage_counts.values()), 1)
            parts.append(_table(["stage", "epochs", "%"], [(k, v, 100.0 * v / total) for k, v in stage_counts.items()
                                                           if k in STAGES], "scored epochs per stage"))
        if label_counts:
            parts.append(_table(["label", "records"], list(label_counts.items())[:60], "labels (most frequent first)"))
    else:
        parts.append(f'<p class="note">{_esc(cfg.prepared_path / "prepare.json")} not found.</p>')
    rows = []
    for mdir in _model_dirs(cfg, blend_report):
        mc = None
        p = mdir / "config.yaml"
        if p.is_file():
            try:
                mc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                mc = None
        tr = (mc or {}).get("train", {}) or {}
        mo = (mc or {}).get("model", {}) or {}
        rows.append([mdir.name, mo.get("pretrained"), tr.get("optimizer"), tr.get("lr"), tr.get("epochs"),
                     tr.get("folds"), tr.get("batch_size"), (mc or {}).get("render", {}).get("height")])
    if rows:
        parts.append(_table(["model", "pretrained", "optimizer", "lr", "epochs", "folds", "batch", "image px"], rows,
                            "models (from each model's config.yaml)"))
    if blend_report:
        parts.append("<h3>Blend</h3>")
        w = blend_report.get("weights", {})
        parts.append(_kv_table({"method": blend_report.get("method"), "weights from": blend_report.get("weights_from"),
                                **{f"weight {k}": v for k, v in w.items()},
                                **{f"checkpoint {k}": v for k, v in (blend_report.get("checkpoints") or {}).items()},
                                "temperature": blend_report.get("temperature")}))
        scores = blend_report.get("scores")
        if isinstance(scores, dict) and scores:
            keys = [k for k in ("kappa", "macro_f1", "accuracy") if all(k in v for v in scores.values())]
            parts.append(_table(["predictions"] + keys, [[n] + [v.get(k) for k in keys] for n, v in scores.items()],
                                "out-of-fold scores before post-processing"))
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    parts.append(f"<details><summary>resolved config (YAML)</summary><pre>{_esc(text)}</pre></details>")
    parts.append("</section>")
    return "".join(parts)


def _sleep_sections(cfg, eval_dir: Path, metrics: dict) -> tuple[str, str, list[str]]:
    """(metrics section, hypnogram section, records)."""

    overall = metrics.get("overall", {})
    parts = ['<section id="metrics"><h2>Metrics</h2>']
    head = {k: overall.get(k) for k in ("accuracy", "macro_f1", "kappa") if k in overall}
    head["epochs"] = metrics.get("n_epochs")
    parts.append(_kv_table(head, f"files_post.csv vs truth ({metrics.get('source', '')})"))
    f1 = [(s, overall.get(f"f1_{s}")) for s in STAGES if f"f1_{s}" in overall]
    if f1:
        parts.append(_table(["stage", "F1"], f1, "F1 per stage"))
    parts.append("<h3>Confusion matrix</h3>")
    parts.append(_img(_read_png(eval_dir / "confusion.png"), "confusion matrix",
                      "rows: truth, columns: prediction; colour = fraction of the true stage"))
    cm = _read_csv(eval_dir / "confusion.csv")
    if cm is not None:
        parts.append(_frame_table(cm, "confusion counts (rows: truth)"))
    per_night = _read_csv(eval_dir / "per_night.csv", dtype={"record": str})
    parts.append("<h3>Per night</h3>")
    parts.append(_frame_table(per_night))
    stats = _read_csv(eval_dir / "sleep_statistics.csv", dtype={"record": str})
    if stats is not None and {"statistic", "record", "truth", "pred"} <= set(stats.columns):
        parts.append("<h3>Sleep statistics (truth / prediction)</h3>")

        order = list(dict.fromkeys(stats["statistic"]))
        col = {s: j for j, s in enumerate(order)}
        st, tr, pr = (stats[c].tolist() for c in ("statistic", "truth", "pred"))
        rows = []
        for rec, pos in record_groups(stats["record"].to_numpy()):  # one pass, not a filter per record
            cells = [None] * len(order)
            for i in pos:
                cells[col[st[i]]] = f"{_fmt(tr[i])} / {_fmt(pr[i])}"
            rows.append([rec] + cells)
        parts.append(_table(["record"] + order, rows))
    parts.append("</section>")
    records = per_night["record"].tolist() if per_night is not None and "record" in per_night else []
    if not records:
        records = sorted(p.name[len("hypnogram_"):-4] for p in eval_dir.glob("hypnogram_*.png"))
    hyp = ['<section id="hypnograms"><h2>Hypnograms</h2>',
           '<p class="note">Truth above prediction; epochs where they differ are shaded orange.</p>']
    for rec in records[:MAX_INLINE_HYPNOGRAMS]:
        hyp.append(_img(_read_png(eval_dir / f"hypnogram_{rec}.png"), f"hypnogram {rec}", str(rec)))
    if len(records) > MAX_INLINE_HYPNOGRAMS:
        # 2,000 inlined hypnograms made a page of about 200 MB
        rest = len(records) - MAX_INLINE_HYPNOGRAMS
        hyp.append(f'<p class="note">The first {MAX_INLINE_HYPNOGRAMS} nights are shown; the hypnograms of the '
                   f'other {rest} are the files hypnogram_&lt;record&gt;.png beside this report '
                   f'(from {_esc(records[MAX_INLINE_HYPNOGRAMS])} to {_esc(records[-1])}).</p>')
    hyp.append("</section>")
    return "".join(parts), "".join(hyp), records


def _ecg_sections(cfg, eval_dir: Path, metrics: dict) -> str:
    overall = metrics.get("overall", {})
    parts = ['<section id="metrics"><h2>Metrics</h2>']
    keys = ("challenge_score", "macro_f1", "macro_precision", "macro_recall", "sensitivity", "specificity",
            "macro_auroc", "macro_auprc", "accuracy", "n_recordings", "n_classes")
    for finding in overall.get("degenerate_decisions") or []:
        parts.append(f'<p class="note"><b>WARNING: degenerate decision rule.</b> {_esc(finding)}</p>')
    parts.append(_kv_table({k: overall[k] for k in keys if k in overall},
                           f"files_post.csv vs truth ({metrics.get('source', '')})"))
    if isinstance(overall.get("binary"), dict):
        pos = overall["binary"].get("positive_class", "abnormal")
        parts.append(_kv_table(overall["binary"], f"{pos} vs the rest (the label_{pos} decision)"))
    if overall.get("auc_skipped_classes"):
        parts.append(f'<p class="note">AUROC/AUPRC skipped for classes with a single label value: '
                     f'{_esc(", ".join(map(str, overall["auc_skipped_classes"])))}</p>')
    if overall.get("challenge_note"):
        parts.append(f'<p class="note">{_esc(overall["challenge_note"])}</p>')
    per_class = _read_csv(eval_dir / "per_class.csv", dtype={"class": str})
    parts.append("<h3>Per class</h3>")
    parts.append(_frame_table(per_class))
    parts.append("<h3>ROC curves (out-of-fold blend)</h3>")
    png, note = None, ""
    src = blend_csv_path(cfg)
    oof = src if src.name.endswith("_oof.csv") else src.with_name(src.name.replace(f"_{cfg.blend.split}.csv", "_oof.csv"))
    side = _read_json(oof.with_suffix(".json"))
    table = _read_csv(oof, dtype={"record": str})
    if side is None or table is None:
        note = f"{oof} (+ .json) not found: run blend.py first."
    elif not side.get("labels") or not side.get("classes"):
        note = f"{oof.with_suffix('.json')} holds no labels; ROC curves need the out-of-fold labels."
    else:
        classes = [str(c) for c in side["classes"]]
        cols = [f"prob_{c}" for c in classes]
        if not set(cols) <= set(table.columns) or len(table) != len(side["labels"]):
            note = f"{oof} does not match its sidecar (columns or rows); re-run blend.py."
        else:
            try:
                from ..loaders.dx import code_to_abbreviation

                names = [code_to_abbreviation(c, default=c) for c in classes]
            except Exception:
                names = classes
            try:
                png = roc_png(np.asarray(side["labels"], dtype=np.int64), table[cols].to_numpy(dtype=np.float64),
                              names, title=f"{cfg.name}: out-of-fold blend")
                write_bytes(eval_dir / "roc.png", png)
            except ValueError as exc:
                note = str(exc)
    parts.append(_img(png, "ROC curves", "one curve per class with both label values; AUROC in the legend")
                 if png else f'<p class="note">{_esc(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:0 1.2em 3em;color:#1d1d1f;line-height:1.4}
h1{font-size:1.6em;margin:.8em 0 .2em}h2{border-bottom:2px solid #1f3b73;padding-bottom:.15em;margin-top:1.6em}
h3{margin:1.2em 0 .4em}nav a{margin-right:1em}.meta,.note{color:#555;font-size:.9em}
.tw{overflow-x:auto;margin:.4em 0 1em}table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #d0d0d0;padding:.2em .55em;text-align:left;white-space:nowrap}
th{background:#eef2f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:.2em 0}
figure{margin:.6em 0 1.4em}figure img{max-width:100%;height:auto;border:1px solid #e0e0e0}
figcaption{color:#555;font-size:.85em}pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.8em}
"""

_SCRIPT = """(function(){function count(){var im=document.images,n=0;for(var i=0;i<im.length;i++){
if(im[i].complete&&im[i].naturalWidth>0){n++;}}document.body.dataset.imagesLoaded=String(n);
document.body.dataset.imagesTotal=String(im.length);}
if(document.readyState==="complete"){count();}else{window.addEventListener("load",count);}})();"""


def write_html_report(cfg, eval_dir: str | os.PathLike | None = None, *, out_path: str | os.PathLike | None = None
                      ) -> Path:
    """Write ``<eval_dir>/report.html`` (and the PNGs it adds) for an evaluated run.

    Parameters
    ----------
    cfg : the experiment's config (the one ``sigvision evaluate`` was run with).
    eval_dir : the folder ``run_evaluate`` wrote (default ``<weights>/<experiment>/eval``).
    out_path : where to write the page (default ``<eval_dir>/report.html``).

    Returns
    -------
    Path
        The HTML file (written atomically).
    """

    eval_dir = Path(eval_dir) if eval_dir else cfg.run_path / "eval"
    mpath = eval_dir / "metrics.json"
    if not mpath.is_file():
        raise InputFileError(eval_dir, "holds no metrics.json", "run 'sigvision evaluate' first")
    metrics = _read_json(mpath)
    if not isinstance(metrics, dict):
        raise InputFileError(mpath, "is not valid JSON", "run 'sigvision evaluate' again")
    blend_report = _read_json(blend_csv_path(cfg).with_suffix(".json"))
    if not task_for(cfg.data).context_windows:  # records, not nights of epochs
        metric_html, hyp_html, n_nights = _ecg_sections(cfg, eval_dir, metrics), "", None
    else:
        metric_html, hyp_html, records = _sleep_sections(cfg, eval_dir, metrics)
        n_nights = len(records)
    run_html = _run_section(cfg, blend_report)
    train_html = _training_section(cfg, eval_dir, blend_report)
    nav = [("run", "Run"), ("training", "Training curves"), ("metrics", "Metrics")]
    if hyp_html:
        nav.append(("hypnograms", f"Hypnograms ({n_nights})"))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = f"sigvision report: {cfg.name}"
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(cfg.data.task)} &middot; written {_esc(now)} by sigvision {_esc(__version__)} '
        f"from {_esc(eval_dir)}</p>",
        "<nav>" + "".join(f'<a href="#{a}">{_esc(t)}</a>' for a, t in nav) + "</nav>",
        run_html, train_html, metric_html, hyp_html,
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ])
    return write_text(Path(out_path) if out_path else eval_dir / REPORT_NAME, page)
