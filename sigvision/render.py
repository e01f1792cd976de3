"""Renderers: signals -> uint8 RGB images, vectorised numpy/OpenCV rasterisation.

Every renderer is registered by name and built from a :class:`sigvision.config.RenderConfig`.
``render(windows, channel_types)`` takes a batch of signal windows, shape
``(batch, n_channels, n_samples)`` in physical units (µV for EEG/EOG/EMG, mV for ECG), and
returns ``(batch, height, width, 3)`` uint8.

Amplitude scaling is explicit and fixed per channel type (never per-image normalisation,
which would erase the amplitude differences that separate N3 from N1):

=========  ====================================  ==================
type       half-band amplitude (reaches band edge)  config field
=========  ====================================  ==================
eeg        75 µV                                  ``eeg_scale_uv``
eog        150 µV                                 ``eog_scale_uv``
emg        40 µV                                  ``emg_scale_uv``
ecg        1.5 mV                                 ``ecg_scale_mv``
=========  ====================================  ==================

Larger excursions are clipped at the band edge. Sleep windows with context hold
``2 * context_epochs + 1`` epochs; the centre epoch gets a tinted background and its
borders are drawn as vertical lines; context missing at the edges of a night is grey.

Per-night normalisation (``render.night_norm``, default ``none``) is the one exception to
fixed scaling, for models that must transfer across recording setups (sim-to-real): it uses
statistics of the whole night, never of one image, so stages keep their relative amplitudes.
``amplitude`` multiplies each channel of a night by one gain so that its robust standard
deviation (interquartile range / 1.349 over all samples of the night) is a fifth of the
type's scale above (EEG 15 µV, EOG 30 µV, EMG 8 µV); ``spectral`` (spectrogram renderer only)
subtracts, per channel and frequency, the night's median log-power, so the image shows
each epoch's power relative to that night's typical spectrum (:func:`night_reference`).
Both are computed by :func:`render_night` and by the re-rendering TTA in
:mod:`sigvision.ensemble` from the same night, so training and inference see the same images.

No matplotlib here: a figure per image is about two orders of magnitude slower
(``benchmarks/render.py`` measures it).
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from .config import NIGHT_NORMS
from .errors import ConfigError
from .registry import Registry

# OpenCV and scipy.signal are imported where a renderer draws: building a renderer from a config
# stays cheap.

__all__ = [
    "RENDERERS",
    "register_renderer",
    "get_renderer",
    "available_renderers",
    "rasterize_traces",
    "context_windows",
    "iter_night_windows",
    "render_night",
    "night_reference",
    "NIGHT_NORMS",
    "TracesRenderer",
    "SpectrogramRenderer",
    "ECGStackRenderer",
    "ECG6x2Renderer",
]

def _named(name: str, cls: type) -> type:
    cls.name = name
    return cls


#: Renderers by name (``render.name``).
RENDERERS: Registry[type] = Registry("renderer", "render.name", on_register=_named)

# Distinct, colour-blind-safe-ish channel colours (RGB), cycled.
_PALETTE = np.array([
    [0, 0, 0], [31, 119, 180], [214, 39, 40], [44, 160, 44], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
    [255, 127, 14], [57, 59, 121],
], dtype=np.uint8)
_BG = np.array([255, 255, 255], dtype=np.uint8)
_CENTRE_BG = np.array([255, 248, 214], dtype=np.uint8)
_MISSING_BG = np.array([200, 200, 200], dtype=np.uint8)
_SEPARATOR = np.array([230, 120, 0], dtype=np.uint8)


def register_renderer(name: str) -> Callable[[type], type]:
    """Class decorator adding a renderer to :data:`RENDERERS` under ``name``."""
    return RENDERERS.register(name)


def available_renderers() -> list[str]:
    return RENDERERS.available()


def get_renderer(cfg, fs_hz: float = 100.0) -> "BaseRenderer":
    """Build the renderer named ``cfg.name`` for signals sampled at ``fs_hz``.

    Unknown names raise a :class:`ConfigError` listing the available ones."""
    return RENDERERS.get(cfg.name)(cfg, fs_hz=fs_hz)


def _scale_for(cfg, ctype: str) -> float:
    return {
        "eeg": cfg.eeg_scale_uv,
        "eog": cfg.eog_scale_uv,
        "emg": cfg.emg_scale_uv,
        "ecg": cfg.ecg_scale_mv,
    }.get(ctype, cfg.eeg_scale_uv)


#: ``amplitude``: the night's robust standard deviation is this fraction of the type's scale
_AMPLITUDE_TARGET = 0.2


def _robust_sd(x: np.ndarray) -> float:
    q25, q75 = np.percentile(x, [25.0, 75.0])
    return float(q75 - q25) / 1.349


def night_reference(renderer: "BaseRenderer", epochs: np.ndarray, channel_types: Sequence[str],
                    fs_hz: float | None = None) -> dict | None:
    """Statistics of a whole night that ``render.night_norm`` renders relative to.

    ``epochs``: (n_epochs, n_channels, n_samples), the night's scored epochs. Returns None
    when ``night_norm`` is ``none``; else ``{"gain": (C,) float}`` (``amplitude``) or
    ``{"db": (C, F) float}`` (``spectral``: median dB over every 2-s frame of the night, per
    channel and frequency bin of the renderer's spectrogram). A flat or empty channel gets
    gain 1 / its frames' median as they are (nothing to scale by)."""
    mode = getattr(renderer.cfg, "night_norm", "none")
    if mode == "none":
        return None
    epochs = np.asarray(epochs, dtype=np.float32)
    n_ep, n_ch, n_s = epochs.shape
    if mode == "amplitude":
        gain = np.ones(n_ch, dtype=np.float32)
        for c in range(n_ch):
            sd = _robust_sd(epochs[:, c].ravel()) if epochs[:, c].size else 0.0
            if np.isfinite(sd) and sd > 0:
                gain[c] = _AMPLITUDE_TARGET * _scale_for(renderer.cfg, channel_types[c]) / sd
        return {"gain": gain}
    if mode == "spectral":
        if not isinstance(renderer, SpectrogramRenderer):
            raise ConfigError(f"render.night_norm=spectral needs render.name: spectrogram, not {renderer.name!r}")
        fs = float(fs_hz or renderer.fs_hz)
        db = []
        for c in range(n_ch):  # one channel at a time: a long night's frames fit in memory
            d = renderer._db(epochs[:, c:c + 1], fs)[:, 0]  # (n_ep, F, T)
            db.append(np.median(np.moveaxis(d, 1, 0).reshape(d.shape[1], -1), axis=1))
        return {"db": np.stack(db).astype(np.float32)}
    raise ConfigError(f"render.night_norm={mode!r} is not one of {', '.join(NIGHT_NORMS)}")


def _column_edges(n_samples: int, width: int) -> np.ndarray:
    return np.linspace(0, n_samples, width + 1).astype(np.int64)


def rasterize_traces(x: np.ndarray, height: int, width: int, scales: Sequence[float], *,
                     colors: np.ndarray | None = None, background: np.ndarray | None = None,
                     thickness: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """Draw each channel of each window as a trace in its own horizontal band.

    Parameters
    ----------
    x : float array (batch, n_channels, n_samples), physical units.
    height, width : output size in pixels; channel ``c`` occupies rows
        ``[c*height//C, (c+1)*height//C)``.
    scales : per channel, the amplitude that reaches the band edge (same unit as ``x``).
    colors : uint8 (n_channels, 3) trace colours; default palette.
    background : uint8 (batch, height, width, 3) or (height, width, 3) or (3,) background.
    thickness : extra pixels on each side of the line (0 = 1-px line).

    Returns
    -------
    uint8 array (batch, height, width, 3).

    Each column takes the min and max of the samples falling in it (so no peak is lost
    however long the window); a polyline through those spans joins neighbouring columns.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected (batch, channels, samples), got shape {x.shape}")
    b, c, n = x.shape
    if n < 1 or c < 1:
        raise ValueError(f"cannot render an empty window of shape {x.shape}")
    edges = _column_edges(n, width)
    starts = np.minimum(edges[:-1], n - 1)
    lo = np.minimum.reduceat(x, starts, axis=2)
    hi = np.maximum.reduceat(x, starts, axis=2)
    band_edges = np.linspace(0, height, c + 1).astype(np.int64)
    band_top = band_edges[:-1].astype(np.float32)
    band_bot = (band_edges[1:] - 1).astype(np.float32)
    centre = (band_top + band_bot) / 2.0
    half = (band_bot - band_top) / 2.0
    px_per_unit = half / np.asarray(scales, dtype=np.float32)
    # y grows downwards: larger values are higher up (smaller y)
    top = centre[None, :, None] - hi * px_per_unit[None, :, None]
    bot = centre[None, :, None] - lo * px_per_unit[None, :, None]
    lim_top, lim_bot = band_top[None, :, None], band_bot[None, :, None]
    top = np.nan_to_num(np.clip(np.floor(top), lim_top, lim_bot), nan=0.0).astype(np.int32)
    bot = np.nan_to_num(np.clip(np.ceil(bot), lim_top, lim_bot), nan=0.0).astype(np.int32)
    # A zig-zag through (x, top[x]) -> (x, bot[x]) -> (x+1, top[x+1]) ... draws every
    # column's span and joins neighbouring columns: a connected trace in one C call.
    pts = np.empty((b, c, 2 * width, 2), dtype=np.int32)
    pts[..., 0] = np.repeat(np.arange(width, dtype=np.int32), 2)
    pts[..., 0::2, 1] = top
    pts[..., 1::2, 1] = bot
    if colors is None:
        colors = _PALETTE[np.arange(c) % len(_PALETTE)]
    color_list = [tuple(int(v) for v in col) for col in np.asarray(colors, dtype=np.uint8)]
    if out is None:
        out = np.empty((b, height, width, 3), dtype=np.uint8)
    if background is None:
        out[...] = _BG
    elif background is not out:
        out[...] = background
    import cv2

    line = 1 + 2 * int(thickness)
    for i in range(b):
        img = out[i]
        if not img.flags.c_contiguous:  # pragma: no cover - out slices are contiguous
            raise ValueError("out must be C-contiguous per image")
        for ci in range(c):
            cv2.polylines(img, [pts[i, ci]], False, color_list[ci], line, cv2.LINE_8)
    return out


def context_windows(epochs: np.ndarray, centre_idx: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack each centre epoch with ``context`` neighbours on each side.

    Parameters
    ----------
    epochs : (n_epochs, n_channels, n_samples) one night.
    centre_idx : int array (batch,) of centre epochs.

    Returns
    -------
    windows : (batch, n_channels, (2*context+1)*n_samples); neighbours outside the night
        are zeros.
    valid : bool (batch, 2*context+1), False where the neighbour is outside the night.
    """
    n_ep, n_ch, n_s = epochs.shape
    offs = np.arange(-context, context + 1)
    idx = np.asarray(centre_idx)[:, None] + offs[None, :]
    valid = (idx >= 0) & (idx < n_ep)
    w = epochs[np.clip(idx, 0, n_ep - 1)]  # (b, k, C, S)
    if not valid.all():
        w = w * valid[:, :, None, None]
    w = np.transpose(w, (0, 2, 1, 3)).reshape(len(idx), n_ch, (2 * context + 1) * n_s)
    return w, valid


class BaseRenderer:
    """Common parts: config, output size, channel scales."""

    name = "base"

    def __init__(self, cfg, fs_hz: float = 100.0):
        self.cfg = cfg
        self.fs_hz = float(fs_hz)
        self.height = int(cfg.height)
        self.width = int(cfg.width)
        if self.height < 8 or self.width < 8:
            raise ConfigError(f"render size {self.height}x{self.width} is too small; use at least 8x8")

    @property
    def context(self) -> int:
        return int(getattr(self.cfg, "context_epochs", 0))

    def scales(self, channel_types: Sequence[str]) -> np.ndarray:
        return np.array([_scale_for(self.cfg, t) for t in channel_types], dtype=np.float32)

    def _background_template(self, valid_row: tuple[bool, ...]) -> np.ndarray:
        """(H, W, 3) background for one pattern of valid context epochs (cached)."""
        cache = self.__dict__.setdefault("_bg_cache", {})
        bg = cache.get(valid_row)
        if bg is None:
            k = len(valid_row)
            bg = np.empty((self.height, self.width, 3), dtype=np.uint8)
            bg[...] = _BG
            if k > 1:
                col_edges = np.linspace(0, self.width, k + 1).astype(np.int64)
                c = k // 2
                bg[:, col_edges[c]:col_edges[c + 1]] = _CENTRE_BG
                for j in range(k):
                    if not valid_row[j]:
                        bg[:, col_edges[j]:col_edges[j + 1]] = _MISSING_BG
                for e in (col_edges[c], col_edges[c + 1] - 1):
                    bg[:, e] = _SEPARATOR
            cache[valid_row] = bg
        return bg

    def _context_background(self, valid: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(batch, H, W, 3) background marking the centre epoch and missing context."""
        b, k = valid.shape
        bg = np.empty((b, self.height, self.width, 3), dtype=np.uint8) if out is None else out
        if valid.all():
            bg[...] = self._background_template((True,) * k)
            return bg
        for i in range(b):
            bg[i] = self._background_template(tuple(bool(v) for v in valid[i]))
        return bg

    def render(self, windows: np.ndarray, channel_types: Sequence[str],
               valid: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Render a batch of windows (batch, n_channels, n_samples) to (batch, H, W, 3) uint8.

        ``valid`` (batch, 2*context+1) marks context epochs inside the night; ``out``, when
        given, is filled in place (no allocation) and returned.
        """
        raise NotImplementedError  # pragma: no cover - abstract


@register_renderer("traces")
class TracesRenderer(BaseRenderer):
    """Stacked channel traces, as the MAIC 2021 and AIWIN images were drawn."""

    def render(self, windows, channel_types, valid=None, out=None, ref=None):
        windows = np.asarray(windows, dtype=np.float32)
        if ref is not None and "gain" in ref:
            windows = windows * np.asarray(ref["gain"], dtype=np.float32)[None, :, None]
        if valid is None:
            valid = np.ones((windows.shape[0], 2 * self.context + 1), dtype=bool)
        bg = self._context_background(valid, out)
        return rasterize_traces(windows, self.height, self.width, self.scales(channel_types),
                                background=bg, thickness=int(self.cfg.line_px) - 1, out=bg)


# dB ranges (10*log10 of power spectral density in unit^2/Hz) mapped to the colour scale.
_SPEC_DB = {"eeg": (-10.0, 30.0), "eog": (-10.0, 40.0), "emg": (-25.0, 15.0), "ecg": (-50.0, 0.0),
            "other": (-10.0, 30.0)}
# ``night_norm: spectral``: dB relative to the night's median at that frequency (every type)
_SPEC_REL_DB = (-20.0, 20.0)


@register_renderer("spectrogram")
class SpectrogramRenderer(BaseRenderer):
    """Per-channel log-power time-frequency images, stacked vertically.

    Power spectral density in unit²/Hz from 2-s Hann windows (hop 0.5 s) from
    ``cfg.spec_fmin_hz`` (default 0: every bin from DC) up to ``cfg.spec_fmax_hz``, shown
    as dB in a fixed range per channel type (EEG -10..30 dB re 1 µV²/Hz, EOG -10..40,
    EMG -25..15, ECG -50..0 re 1 mV²/Hz), low frequencies at the bottom, viridis colours.
    """

    def __init__(self, cfg, fs_hz: float = 100.0):
        super().__init__(cfg, fs_hz)
        import cv2

        lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_VIRIDIS)[:, 0, ::-1]
        self._lut = np.ascontiguousarray(lut)

    def _db(self, windows: np.ndarray, fs: float) -> np.ndarray:
        """(b, c, F, T) dB of the power spectral density from ``spec_fmin_hz`` to ``spec_fmax_hz``."""
        from scipy.signal import stft

        n = windows.shape[-1]
        nper = min(n, int(2 * fs))
        f, _, z = stft(windows, fs=fs, window="hann", nperseg=nper, noverlap=nper - max(1, int(fs / 2)),
                       boundary=None, padded=False, axis=-1, scaling="psd")
        psd = (np.abs(z) ** 2) * 2.0  # one-sided
        keep = (f >= float(self.cfg.spec_fmin_hz)) & (f <= float(self.cfg.spec_fmax_hz))
        return 10.0 * np.log10(psd[:, :, keep, :] + 1e-12)

    def render(self, windows, channel_types, valid=None, out=None, fs_hz: float | None = None, ref=None):
        import cv2

        windows = np.asarray(windows, dtype=np.float32)
        fs = float(fs_hz or self.fs_hz)
        b, c, n = windows.shape
        if ref is not None and "gain" in ref:
            windows = windows * np.asarray(ref["gain"], dtype=np.float32)[None, :, None]
        db = self._db(windows, fs)  # (b, c, F, T)
        rel = ref is not None and "db" in ref
        if rel:
            r = np.asarray(ref["db"], dtype=np.float32)
            if r.shape != (c, db.shape[2]):
                raise ValueError(f"night reference of shape {r.shape} does not fit {c} channel(s) x "
                                 f"{db.shape[2]} frequencies")
            db = db - r[None, :, :, None]
        band_edges = np.linspace(0, self.height, c + 1).astype(np.int64)
        if out is None:
            out = np.empty((b, self.height, self.width, 3), dtype=np.uint8)
        for ci, t in enumerate(channel_types):
            lo, hi = _SPEC_REL_DB if rel else _SPEC_DB.get(t, _SPEC_DB["other"])
            idx = np.clip((db[:, ci] - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)  # (b, F, T)
            h = int(band_edges[ci + 1] - band_edges[ci])
            for bi in range(b):
                img = cv2.resize(idx[bi][::-1], (self.width, h), interpolation=cv2.INTER_LINEAR)
                out[bi, band_edges[ci]:band_edges[ci + 1]] = self._lut[img]
        if valid is not None and valid.shape[1] > 1:
            col_edges = np.linspace(0, self.width, valid.shape[1] + 1).astype(np.int64)
            cc = valid.shape[1] // 2
            for e in (col_edges[cc], col_edges[cc + 1] - 1):
                out[:, :, e] = _SEPARATOR
            for j in range(valid.shape[1]):
                miss = ~valid[:, j]
                if miss.any():
                    out[miss, :, col_edges[j]:col_edges[j + 1]] = _MISSING_BG
        return out


def _ecg_grid(height: int, width: int, duration_s: float, n_rows: int, scale_mv: float) -> np.ndarray:
    """ECG-paper background: light lines every 0.2 s and every 0.5 mV."""
    bg = np.empty((height, width, 3), dtype=np.uint8)
    bg[...] = _BG
    grid = np.array([255, 205, 205], dtype=np.uint8)
    n_lines = int(duration_s / 0.2)
    if 0 < n_lines <= width // 3:
        xs = np.linspace(0, width - 1, n_lines + 1).astype(int)
        bg[:, xs] = grid
    band_h = height / n_rows
    px_per_mv = (band_h / 2) / scale_mv
    step = 0.5 * px_per_mv
    if step >= 3:
        ys = np.arange(0, height, step).astype(int)
        bg[ys] = grid
    return bg


@register_renderer("ecg_stack")
class ECGStackRenderer(BaseRenderer):
    """All leads stacked top to bottom over the whole record (12 bands for 12 leads)."""

    def render(self, windows, channel_types=None, valid=None, out=None):
        windows = np.asarray(windows, dtype=np.float32)
        b, c, n = windows.shape
        types = channel_types or ["ecg"] * c
        bg = _ecg_grid(self.height, self.width, n / self.fs_hz, c, float(self.cfg.ecg_scale_mv)) \
            if self.cfg.ecg_grid else None
        return rasterize_traces(windows, self.height, self.width, self.scales(types),
                                colors=np.zeros((c, 3), np.uint8), background=bg,
                                thickness=int(self.cfg.line_px) - 1, out=out)


@register_renderer("ecg_6x2")
class ECG6x2Renderer(BaseRenderer):
    """The clinical 6x2 layout: limb leads (I, II, III, aVR, aVL, aVF) over the first half
    of the record on the left, chest leads (V1-V6) over the second half on the right.
    Expects 12 leads in standard order."""

    def render(self, windows, channel_types=None, valid=None, out=None):
        windows = np.asarray(windows, dtype=np.float32)
        b, c, n = windows.shape
        if c != 12:
            raise ConfigError(f"render.name=ecg_6x2 needs 12 leads in standard order, got {c}; "
                              "use render.name: ecg_stack (or traces for PSG)")
        half = n // 2
        wl = self.width // 2
        wr = self.width - wl
        scales = np.full(6, float(self.cfg.ecg_scale_mv), dtype=np.float32)
        black = np.zeros((6, 3), np.uint8)
        dur = half / self.fs_hz
        bgl = _ecg_grid(self.height, wl, dur, 6, float(self.cfg.ecg_scale_mv)) if self.cfg.ecg_grid else None
        bgr = _ecg_grid(self.height, wr, dur, 6, float(self.cfg.ecg_scale_mv)) if self.cfg.ecg_grid else None
        left = rasterize_traces(windows[:, :6, :half], self.height, wl, scales, colors=black,
                                background=bgl, thickness=int(self.cfg.line_px) - 1)
        right = rasterize_traces(windows[:, 6:, half:2 * half], self.height, wr, scales, colors=black,
                                 background=bgr, thickness=int(self.cfg.line_px) - 1)
        if out is None:
            out = np.empty((b, self.height, self.width, 3), dtype=np.uint8)
        out[:, :, :wl] = left
        out[:, :, wl:] = right
        out[:, :, wl - 1] = _SEPARATOR
        return out


def iter_night_windows(epochs: np.ndarray, context: int, batch_size: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(centre_idx, windows, valid)`` batches over one night, never the whole night at once."""
    n = epochs.shape[0]
    for s in range(0, n, batch_size):
        idx = np.arange(s, min(n, s + batch_size))
        w, v = context_windows(epochs, idx, context)
        yield idx, w, v


def render_night(renderer: BaseRenderer, epochs: np.ndarray, channel_types: Sequence[str], *,
                 batch_size: int = 64, out: np.ndarray | None = None, planar: bool = False) -> np.ndarray:
    """Render every epoch of a night (with the renderer's context) into ``out``.

    ``out`` may be a writable memory map so a night is streamed to disk batch by batch. Its
    shape is (n_epochs, H, W, 3), or (n_epochs, 3, H, W) with ``planar`` (the render cache's
    layout, which the model reads without a transposition): each batch is then drawn into
    one reused (batch, H, W, 3) buffer and copied across. With ``render.night_norm`` set, the
    night's statistics (:func:`night_reference`) are taken from ``epochs`` first.
    """
    n = epochs.shape[0]
    h, w_px = renderer.height, renderer.width
    if out is None:
        out = np.empty((n, 3, h, w_px) if planar else (n, h, w_px, 3), dtype=np.uint8)
    buf = np.empty((min(batch_size, n), h, w_px, 3), dtype=np.uint8) if planar else None
    ref = night_reference(renderer, epochs, channel_types)
    kw = {} if ref is None else {"ref": ref}  # renderers without night statistics keep their signature
    for idx, w, v in iter_night_windows(epochs, renderer.context, batch_size):
        a, b = int(idx[0]), int(idx[-1]) + 1
        if planar:
            renderer.render(w, channel_types, v, out=buf[:b - a], **kw)
            out[a:b] = buf[:b - a].transpose(0, 3, 1, 2)
        else:
            renderer.render(w, channel_types, v, out=out[a:b], **kw)
    return out
