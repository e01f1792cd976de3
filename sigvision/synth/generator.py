"""Seeded synthetic polysomnography (PSG) driven by a real hypnogram, calibrated to real EEG.

:func:`synthesize_night` turns a hypnogram (one stage per 30-s epoch) into PSG channels in
microvolts, in one of several electrode montages (:data:`MONTAGES`):

==============  ==========================================================================
montage         channels
==============  ==========================================================================
``sleep_edf``   ``EEG Fpz-Cz``, ``EEG Pz-Oz`` (bipolar), ``EOG horizontal``, ``EMG
                submental`` (Sleep-EDF Expanded; the default)
``sleep_edf_sc``  the same, with the chin EMG written as Sleep-EDF SC's 1-Hz envelope
                (high-pass 16 Hz, rectified, low-pass 0.7 Hz)
``aasm``        ``EEG F4-M1``, ``EEG C4-M1``, ``EEG O2-M1``, ``EOG E1-M2``, ``EMG chin``
                (AASM recommended derivations, mastoid references)
``aasm_left``   ``EEG F3-M2``, ``EEG C3-M2``, ``EEG O1-M2``, ``EOG E1-M2``, ``EMG chin``
``central``     ``EEG C3-A2``, ``EEG O1-A2``, ``EOG LOC-A2``, ``EMG chin`` (older naming)
``cz``          ``EEG Cz-A1``, ``EOG E1-M2``, ``EMG chin`` (one central lead)
``frontal``     ``EEG F4-M1``, ``EOG E2-M1``, ``EMG chin`` (frontal-only systems)
``random``      one of the above, drawn from the seed (domain randomisation)
==============  ==========================================================================

How the signals are built
-------------------------
Each EEG derivation is a weighted sum of shared generators (1/f background, slow waves,
theta, alpha, sigma, beta) and discrete events (slow and fast spindles, K-complexes,
vertex waves, sawtooth waves, arousals), with a gain per generator and derivation
(:data:`DERIVATIONS`: slow waves frontal-maximal, spindles and K-complexes central, alpha
occipital; a bipolar derivation such as Fpz-Cz sees the difference of its two electrodes,
so a vertex K-complex appears inverted and smaller on it). Derivations share the same
generators with a derivation-specific phase mix, so they are correlated but not identical.
Eye movements and blinks reach the frontal leads (vertical gaze shifts in eyes-open wake
like blinks: large at Fpz, little on a horizontal EOG), ECG the mastoid-referenced ones,
scalp muscle the frontal and temporal ones. The gains of the Sleep-EDF montage's Pz-Oz are
fitted to the per-stage band powers of ten real Sleep-EDF nights (subjects 0-4;
``benchmarks/sleepedf_calibrate.py``), Fpz-Cz's spindle gains were raised to real Sleep-EDF
N2 and then its eye gain to real Sleep-EDF wake (``benchmarks/sleepedf_snippets.py``, subjects
0-9), the others are set by hand from the references below.

Amplitudes are calibrated on a central-mastoid derivation (C3-A1/C4-M1/Cz-A1) to these
references (0.5-30 Hz, medians per 30-s epoch; relative power = band / 0.5-30 Hz power):

=====  ======  =======  =======  =======  =======  =======  ================================
stage  RMS uV  delta    theta    alpha    sigma    beta     source
=====  ======  =======  =======  =======  =======  =======  ================================
W      7-19    .47-.86  .04-.23  .03-.21  .02-.12  .01-.09  DREAMS, 6 subjects (see below)
N1     8-16    .48-.84  .06-.28  .03-.20  .02-.05  .01-.12  DREAMS
N2     15-22   .69-.84  .07-.17  .03-.09  .02-.05  .01-.02  DREAMS; YASA N2 snippet .047
N3     21-31   .77-.90  .06-.14  .03-.04  .01-.03  <=.01    DREAMS; YASA N3 snippet 18.6 uV
R      ~10     --       high     some     low      some     AASM: low-voltage mixed frequency
=====  ======  =======  =======  =======  =======  =======  ================================

DREAMS: the DREAMS Sleep Spindles database (Devuyst et al. 2011, University of Mons; 8
30-min central-EEG excerpts, R&K hypnograms, CC BY-NC-ND: used for measurement only, not
shipped); YASA snippets: the N2 and N3 example EEG of YASA's notebooks (Vallat & Walker,
eLife 2021). Physiological definitions follow the AASM Manual v2.6 (N3: >= 20 % of the
epoch with 0.5-2 Hz waves >= 75 uV peak to peak, frontal; spindles 11-16 Hz, >= 0.5 s;
K-complexes >= 0.5 s; alpha 8-13 Hz posterior, attenuated by eye opening), spindle density
and frequency follow Purcell et al. (Nat Commun 2017; 2-7 per minute in N2, slow frontal
~12 Hz and fast centro-parietal ~13.5 Hz spindles), slow-wave activity decays across the
night (process S; Borbely 1982) and the background spectrum steepens with depth of sleep
(Lendner et al., eLife 2020). ``benchmarks/synthetic_realism.py --spectra`` prints these
statistics for synthetic nights next to the real snippets.

Variability instead of textbook stages
--------------------------------------
Everything varies between nights (:func:`draw_night_params`): overall EEG amplitude (age,
skull), alpha frequency and prominence (some people have almost none), the share of
eyes-closed wake, spindle density, frequency and amplitude, slow-wave amplitude and its
decay over the night, K-complex rate, 1/f slope, chin-EMG tone in NREM and REM, eye-movement
density, the size of vertical gaze shifts (:func:`draw_added_night_params`, drawn from its
own stream), heart rate, ECG pick-up, amplifier noise, recording filters (high-pass
0.1-0.5 Hz, low-pass 25-45 Hz when the sampling rate allows), mains interference (50 or 60 Hz, when the
sampling rate can carry it), sweat artefacts, movement, electrode pops, arousal rate, and
how ambiguous transitional epochs are: every epoch's physiology leaks towards its
neighbours' stages (strongly at stage changes), N1 keeps some wake alpha or borrows N2
features. ``label_noise`` relabels epochs the way a single human scorer departs from the
consensus of four others on the Dreem DOD-H/DOD-O nights shipped in
``resources/sample/hypnograms`` (:data:`SCORER_CONFUSION_STABLE`,
:data:`SCORER_CONFUSION_TRANSITION`; overall agreement 83 %).

Every random draw comes from ``numpy.random.default_rng(seed)`` in a fixed order, so the
same seed gives bit-identical signals (same platform and numpy/scipy versions), and
:func:`write_synthetic_night` writes byte-identical EDF files. A 1,000-epoch night takes
about 2-4 s (vectorised numpy/FFT; envelopes are built at 10 Hz and interpolated).
"""
from __future__ import annotations


import numpy as np
from scipy import signal as sps

from .montages import (
    _KEYS,
    _MT,
    _N1,
    _REM,
    _TICK_HZ,
    _W,
    DERIVATIONS,
    MONTAGES,
    SyntheticNight,
    _check_hypnogram,
    _check_label_noise,
    _check_seed,
    _resolve_montage,
    draw_added_night_params,
    draw_night_params,
    scorer_labels,
)
from .noise import (
    _add_waveforms,
    _band,
    _epoch_mixtures,
    _events,
    _gaze_trace,
    _gauss,
    _log_gauss,
    _markov_binary,
    _NoiseSource,
    _power_law,
    _slow_process,
    _smooth,
)


#: seed-stream tag of the parameters and events added after the original generator
_ADDED_STREAM = 27644437
#: duration range (s) of a saccade, horizontal or vertical, and of a rapid eye movement of REM
_SACCADE_S, _REM_S = (0.04, 0.08), (0.05, 0.1)


def synthesize_night(
    hypnogram,
    *,
    seed: int,
    fs_hz: float = 100.0,
    epoch_s: float = 30.0,
    artifacts: bool = True,
    params: dict[str, float] | None = None,
    montage: str = "sleep_edf",
    label_noise: float = 0.0,
) -> SyntheticNight:
    """Synthesise one night of PSG that follows ``hypnogram``.

    Parameters
    ----------
    hypnogram : array_like of int, shape (n_epochs,)
        Stage per epoch: -1 unscored, 0 W, 1 N1, 2 N2, 3 N3, 4 REM.
    seed : int
        Non-negative seed; the same seed (and arguments) gives identical signals.
    fs_hz : float
        Sampling rate in Hz (100 like Sleep-EDF; at least 60 Hz).
        ``fs_hz * epoch_s`` must be a whole number.
    epoch_s : float
        Epoch length in seconds (30).
    artifacts : bool
        Add movement bursts, electrode pops, blinks, sweat and mains interference
        (default). ``False`` gives clean signals (ECG, eye movements and arousals are
        physiology and stay).
    params : dict, optional
        Overrides for the per-night parameters drawn by :func:`draw_night_params`.
    montage : str
        A key of :data:`MONTAGES` (default ``"sleep_edf"``) or ``"random"`` (drawn from
        the seed, from :data:`RANDOM_MONTAGES`).
    label_noise : float in [0, 1]
        Strength of human-scorer-like relabelling of ``scored`` (see
        :func:`scorer_labels`); 0 (default) keeps the driving hypnogram.

    Returns
    -------
    SyntheticNight
        ``signals`` float32 (n_channels, n_epochs * epoch_s * fs_hz) in microvolts.

    Raises
    ------
    ValueError
        Empty hypnogram, a stage outside -1..4, bad seed, sampling rate, montage or
        label_noise.
    """
    hyp = _check_hypnogram(hypnogram)
    seed = _check_seed(seed)
    label_noise = _check_label_noise(label_noise)
    montage = _resolve_montage(montage, seed)
    fs = float(fs_hz)
    epoch_s = float(epoch_s)
    if not (np.isfinite(fs) and fs >= 60.0):
        raise ValueError(f"fs_hz must be at least 60 Hz, got {fs_hz!r}")
    if not (np.isfinite(epoch_s) and epoch_s > 0):
        raise ValueError(f"epoch_s must be positive, got {epoch_s!r}")
    spe = fs * epoch_s
    if abs(spe - round(spe)) > 1e-9 or abs(epoch_s * _TICK_HZ - round(epoch_s * _TICK_HZ)) > 1e-9:
        raise ValueError(
            f"fs_hz * epoch_s = {spe} must be a whole number of samples and epoch_s a "
            "multiple of 0.1 s"
        )
    spe = int(round(spe))
    n = hyp.size * spe
    per_epoch = int(round(epoch_s * _TICK_HZ))
    n_ticks = hyp.size * per_epoch

    rng = np.random.default_rng(seed)
    p = draw_night_params(rng)
    # parameters added later come from their own stream, so the draws above stay as they were
    p.update(draw_added_night_params(np.random.default_rng([seed, _ADDED_STREAM])))
    if params:
        unknown = set(params) - set(p)
        if unknown:
            raise ValueError(f"unknown night parameters {sorted(unknown)}; known: {sorted(p)}")
        p.update({k: float(v) for k, v in params.items()})

    spec = MONTAGES[montage]
    eeg_rows = [i for i, (_, t, _) in enumerate(spec) if t == "eeg"]
    derivs = [DERIVATIONS[spec[i][2]] for i in eeg_rows]
    # the frontal-mastoid mixture reaches the EOG electrodes, the central one the chin
    leak_f, leak_c = DERIVATIONS["F-M"], DERIVATIONS["C-M"]
    targets = derivs + [leak_f, leak_c]  # accumulated together; the last two are leaks
    n_t = len(targets)
    gains = {k: np.array([d[k] for d in targets], dtype=np.float32)[:, None] for k in _KEYS}
    ch_jitter = rng.lognormal(0.0, 0.12, n_t).astype(np.float32)
    ch_jitter[-2:] = 1.0

    t_tick = np.arange(n_ticks, dtype=np.float64) / _TICK_HZ
    t_samp = np.arange(n, dtype=np.float64) / fs
    noise = _NoiseSource(rng, n, fs)

    def up(env_ticks: np.ndarray) -> np.ndarray:
        """Tick-rate envelope -> sample rate (linear interpolation)."""
        return np.interp(t_samp, t_tick, env_ticks).astype(np.float32)

    # ---------------- stage envelopes (tick resolution) ------------------------------
    cat = np.where(hyp < 0, _MT, hyp)
    mix = _epoch_mixtures(rng, cat, p["ambiguity"], p["n1_alpha"])
    w_raw = np.repeat(mix.T, per_epoch, axis=1)
    w = _smooth(w_raw, 3.0 * _TICK_HZ)  # ~6 s transitions
    w_slow = _smooth(w_raw, 8.0 * _TICK_HZ)  # slow-wave activity builds up over ~15 s
    W, N1, N2, N3, REM, MT = w
    wake_like = W + MT

    # Wake sub-states: eyes closed (alpha) vs eyes open (beta, blinks, saccades).
    ec = p["eyes_closed_frac"]
    eyes_closed = _markov_binary(rng, n_ticks, ec, 60.0 * ec, 60.0 * (1 - ec))
    # Wake next to sleep is drowsy, eyes mostly closed.
    near_sleep = _smooth((1.0 - w_raw[_W] - w_raw[_MT]), 120.0 * _TICK_HZ, passes=1) > 0.02
    eyes_closed = np.maximum(eyes_closed, 0.8 * near_sleep.astype(np.float32))
    eyes_closed = _smooth(eyes_closed, 1.0 * _TICK_HZ)
    eyes_open = 1.0 - eyes_closed
    wc = wake_like * eyes_closed  # relaxed wake
    wo = wake_like * eyes_open  # active wake

    # Phasic vs tonic REM.
    phasic = _smooth(_markov_binary(rng, n_ticks, 0.45, 20.0, 25.0), 1.0 * _TICK_HZ)

    # Brief arousals inside sleep (3-15 s): alpha + chin tone + beta burst.
    sleep_w = N1 + N2 + N3 + REM
    ar_t = _events(rng, sleep_w * (p["arousal_per_h"] / 3600.0))
    arousal = np.zeros(n_ticks, dtype=np.float32)
    if ar_t.size:
        dur = rng.uniform(3.0, 15.0, ar_t.size)
        for t0, d in zip(ar_t, dur):
            a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
            arousal[a:b] = 1.0
    arousal = _smooth(arousal, 1.0 * _TICK_HZ) * sleep_w

    # Process S: slow-wave amplitude decays from sleep onset (x1.2) towards x0.7.
    asleep = np.flatnonzero((cat >= _N1) & (cat <= _REM))
    onset_s = float(asleep[0] * epoch_s) if asleep.size else 0.0
    since = np.maximum(t_tick - onset_s, 0.0) / 3600.0
    swa_s = (0.7 + 0.5 * np.exp(-since / p["sw_decay_h"])).astype(np.float32)

    # Slow within-stage fluctuations.
    mod_delta = _slow_process(rng, n_ticks, 60.0, 0.2)
    mod_alpha = _slow_process(rng, n_ticks, 4.0, 0.45)
    mod_spin = _slow_process(rng, n_ticks, 90.0, 0.25)
    mod_emg = _slow_process(rng, n_ticks, 120.0, 0.25)
    mod_bg = _slow_process(rng, n_ticks, 120.0, 0.12)
    mod_spin_bg = _slow_process(rng, n_ticks, 2.0, 0.6)

    # ---------------- continuous EEG generators --------------------------------------
    # Amplitudes: standard deviation (uV) on a central-mastoid derivation before the
    # per-night gain; alpha on an occipital one. Stage order: W, N1, N2, N3, REM, unscored.
    def stage_mix(values, weights=w):
        v = np.asarray(values, dtype=np.float32)
        return (v[:, None] * weights).sum(axis=0)

    slope = p["bg_slope"]
    a_pink = stage_mix([6.5, 6.0, 5.0, 5.0, 5.5, 6.0]) * mod_bg
    a_brown = stage_mix([9.5, 8.5, 15.0, 13.0, 9.0, 9.0]) * mod_bg
    # a subject's slow-wave gain scales N3 fully, N2 partly (scorers' 75-uV criterion is absolute)
    sw = p["sw_gain"]
    a_delta = stage_mix([2.5, 4.5, 8.5 * np.sqrt(sw), 21.0 * sw, 3.5, 3.0], w_slow) * mod_delta * swa_s
    a_theta = stage_mix([2.0, 4.0, 4.0, 4.5, 3.3, 2.0]) * p["theta_gain"]
    a_beta = (stage_mix([2.8, 1.9, 0.7, 0.55, 1.3, 3.0]) + 1.2 * wo + 1.5 * arousal) * p["beta_gain"]
    a_alpha = (6.5 * wc + 1.5 * wo + 3.5 * N1 * (1 - wake_like) + 3.0 * N2 + 3.2 * N3
               + 1.5 * REM + 3.5 * arousal) * mod_alpha * p["alpha_gain"]
    a_sigma = stage_mix([0.6, 0.9, 1.8, 3.0, 0.5, 0.6]) * mod_spin_bg
    a_ralpha = 1.5 * REM * _slow_process(rng, n_ticks, 3.0, 0.6) * p["alpha_gain"]

    fa = p["alpha_hz"]
    # (key, spectral shape, amplitude envelope, how differently derivations mix the two copies)
    components = (
        # real background spectra are smooth power laws that steepen above ~15 Hz
        ("bg", lambda f: _power_law(1.0 + slope, 0.2, 45.0)(f) * _band(f, 0, 15.0, 1), a_pink, 1.0),
        ("bg", _power_law(2.0 + slope, 0.2, 45.0), a_brown, 0.8),
        ("delta", _log_gauss(1.0, 0.75), a_delta, 0.5),  # 0.5-3 Hz, no textbook notch at 3 Hz
        ("theta", _log_gauss(5.0, 0.3), a_theta, 0.7),
        ("alpha", _gauss(fa, 1.0), a_alpha, 0.5),
        ("sigma", _gauss(p["spindle_hz"], 0.9), a_sigma, 0.6),
        ("beta", _gauss(20.0, 5.0), a_beta, 1.0),
        ("alpha", _gauss(fa - 1.5, 0.5), a_ralpha, 0.5),  # REM alpha, 1-2 Hz slower
    )
    eeg = np.zeros((n_t, n), dtype=np.float32)
    ph = gains["phase"]
    for key, shape, amp_ticks, spread in components:
        env = up(amp_ticks)
        a, b = noise(shape, count=2)
        c, s = np.cos(ph * spread), np.sin(ph * spread)
        eeg += (gains[key] * env) * (c * a + s * b)
    del a, b

    # ---------------- discrete EEG events --------------------------------------------
    events: dict[str, np.ndarray] = {}
    dens = p["spindle_density"]
    # spindles: per-minute density per stage, suppressed during arousals
    sp_rate = (0.2 * N1 + 4.0 * N2 + 1.5 * N3) * dens * mod_spin * (1 - arousal)
    sp_rate = np.minimum(sp_rate, 8.0) / 60.0
    sp_t = _events(rng, sp_rate)
    # K-complexes
    kc_rate = (0.2 * N1 + 1.2 * N2 + 0.4 * N3) * p["kc_density"] / 60.0 * (1 - arousal)
    kc_t = _events(rng, kc_rate)
    # about a third of the K-complexes are followed by a spindle
    follow = kc_t[rng.random(kc_t.size) < 0.35]
    follow = follow + rng.uniform(0.5, 0.9, follow.size)
    sp_t = np.sort(np.concatenate([sp_t, follow]))
    sp_t = sp_t[sp_t < hyp.size * epoch_s - 2.5]
    events["spindles"] = sp_t
    events["k_complexes"] = kc_t

    def add_event(key: str, starts: np.ndarray, waves: np.ndarray) -> None:
        one = np.zeros(n, dtype=np.float32)
        _add_waveforms(one, starts, waves)
        np.add(eeg, gains[key] * one, out=eeg)

    if sp_t.size:
        L = int(2.2 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = np.clip(rng.lognormal(np.log(0.9), 0.3, sp_t.size), 0.5, 2.0)
        slow = rng.random(sp_t.size) < p["slow_spindle_frac"]
        n3_at = np.interp(sp_t, t_tick, N3)
        f0 = np.where(slow, p["spindle_hz"] - 1.5, p["spindle_hz"]) - 0.5 * n3_at
        f0 = np.clip(f0 + rng.normal(0.0, 0.4, sp_t.size), 11.0, 16.0)
        amp = rng.lognormal(np.log(14.0), 0.3, sp_t.size) * p["spindle_amp"]  # peak (uV)
        phase0 = rng.uniform(0, 2 * np.pi, sp_t.size)
        x = tt[None, :] / dur[:, None]
        envs = np.where(x < 1.0, np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)
        inst = f0[:, None] * tt[None, :] + 0.25 * tt[None, :] ** 2 / dur[:, None]
        waves = amp[:, None] * envs * np.sin(2 * np.pi * inst + phase0[:, None])
        starts = np.rint(sp_t * fs).astype(np.int64)
        add_event("spin_slow", starts[slow], waves[slow])
        add_event("spin_fast", starts[~slow], waves[~slow])

    if kc_t.size:
        L = int(1.6 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(50.0), 0.3, kc_t.size) * p["kc_amp"]  # negative peak (uV)
        width = rng.uniform(0.8, 1.2, kc_t.size)
        # sharp negative (surface-negative = upward) wave then slower positive wave
        neg = np.exp(-0.5 * ((tt[None, :] - 0.35 * width[:, None]) / (0.1 * width[:, None])) ** 2)
        pos = np.exp(-0.5 * ((tt[None, :] - 0.8 * width[:, None]) / (0.2 * width[:, None])) ** 2)
        add_event("kc", np.rint(kc_t * fs).astype(np.int64), amp[:, None] * (-neg + 0.7 * pos))

    # vertex sharp waves (N1, some in N2)
    vx_t = _events(rng, (2.5 * N1 + 0.3 * N2) / 60.0)
    events["vertex_waves"] = vx_t
    if vx_t.size:
        L = int(0.5 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(30.0), 0.3, vx_t.size)
        neg = np.exp(-0.5 * ((tt - 0.2) / 0.045) ** 2)
        pos = np.exp(-0.5 * ((tt - 0.32) / 0.07) ** 2)
        add_event("kc", np.rint(vx_t * fs).astype(np.int64), amp[:, None] * (-neg + 0.35 * pos)[None, :])

    # sawtooth-wave trains (REM, 2-5 Hz, 2-6 s)
    st_t = _events(rng, REM * (1.0 + 2.0 * phasic) / 60.0)
    events["sawtooth_trains"] = st_t
    if st_t.size:
        L = int(6.0 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = rng.uniform(2.0, 6.0, st_t.size)
        f0 = rng.uniform(2.5, 4.5, st_t.size)
        amp = rng.lognormal(np.log(9.0), 0.3, st_t.size)
        x = tt[None, :] / dur[:, None]
        envs = np.where(x < 1.0, np.sin(np.pi * np.clip(x, 0, 1)) ** 0.5, 0.0)
        saw = sps.sawtooth(2 * np.pi * f0[:, None] * tt[None, :], width=0.25)
        add_event("saw", np.rint(st_t * fs).astype(np.int64), amp[:, None] * envs * saw)

    # ---------------- eyes: position signal (saccades, REMs), SEM, blinks ------------
    eye = np.zeros(n, dtype=np.float32)
    rem_rate = REM * (0.08 + 1.0 * phasic) * p["rem_density"] + 0.02 * N1
    sac_rate = wo * 1.0 + wc * 0.05 + MT * 0.3
    rem_t = _events(rng, rem_rate)
    sac_t = _events(rng, sac_rate)
    events["rapid_eye_movements"] = rem_t
    events["saccades"] = sac_t
    mv_t = np.concatenate([rem_t, sac_t])
    kind = np.concatenate([np.ones(rem_t.size), np.zeros(sac_t.size)])
    order = np.argsort(mv_t, kind="stable")
    mv_t, kind = mv_t[order], kind[order]
    if mv_t.size:
        # targets of gaze (horizontal EOG uV), mean-reverting around straight ahead
        target = rng.normal(0.0, 1.0, mv_t.size) * np.where(kind > 0, 75.0, 220.0)
        dur = np.where(kind > 0, rng.uniform(*_REM_S, mv_t.size), rng.uniform(*_SACCADE_S, mv_t.size))
        eye += _gaze_trace(mv_t, target, dur, n, fs)
    # slow eye movements (drowsy wake, N1; fading into N2)
    sem_env = up((22.0 * N1 + 10.0 * wc + 4.0 * N2) * _slow_process(rng, n_ticks, 15.0, 0.5))
    eye += sem_env * noise(_gauss(0.35, 0.15))
    # blinks (eyes open wake mainly): vertical, large on frontal and E-M leads
    bl_t = _events(rng, wo * 0.3 + wc * 0.02 + MT * 0.2) if artifacts else np.zeros(0)
    events["blinks"] = bl_t
    blink = np.zeros(n, dtype=np.float32)
    if bl_t.size:
        L = int(0.6 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        amp = rng.lognormal(np.log(90.0), 0.3, bl_t.size)
        shape = np.where(tt < 0.12, np.sin(np.pi * tt / 0.24) ** 2, np.exp(-(tt - 0.12) / 0.09))
        _add_waveforms(blink, np.rint(bl_t * fs).astype(np.int64), amp[:, None] * shape[None, :])
    # vertical gaze shifts (eyes-open wake): the same vertical dipole as a blink, so they
    # reach the leads like blinks (large at Fpz and on E-M electrodes, little on hEOG); the
    # shipped real Sleep-EDF wake at Fpz-Cz is dominated by such slow deflections
    vrng = np.random.default_rng([seed, _ADDED_STREAM, 1])
    vt = _events(vrng, wo * 1.0 + MT * 0.3)
    events["vertical_eye_movements"] = vt
    if vt.size:
        v_target = vrng.normal(0.0, p["vertical_eye_uv"], vt.size)
        blink = blink + _gaze_trace(vt, v_target, vrng.uniform(*_SACCADE_S, vt.size), n, fs)
    eeg += gains["eye"] * (blink + 0.25 * eye)

    # ---------------- chin EMG -------------------------------------------------------
    tone = (
        stage_mix([1.0, 0.75, p["emg_tone_nrem"], 0.85 * p["emg_tone_nrem"], p["emg_tone_rem"], 1.3])
        + 0.5 * wo
        + 0.8 * arousal * (1.0 - REM)
    ) * mod_emg
    fs_hi = min(90.0, 0.45 * fs)
    emg = up(tone * 9.0) * noise(lambda f: _band(f, 10.0, fs_hi, 3))
    tw_t = _events(rng, REM * (0.1 + 0.3 * phasic))  # REM twitches (phasic bursts)
    events["twitches"] = tw_t
    if tw_t.size:
        L = int(0.25 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        dur = rng.uniform(0.05, 0.25, tw_t.size)
        envs = np.where(tt[None, :] < dur[:, None], 1.0, 0.0)
        carrier = rng.standard_normal((tw_t.size, L))
        amp = rng.lognormal(np.log(12.0), 0.4, tw_t.size)
        _add_waveforms(emg, np.rint(tw_t * fs).astype(np.int64), amp[:, None] * envs * carrier)

    # scalp muscles (frontalis, temporalis) reach the EEG and EOG leads, mostly in wake
    scalp_env = stage_mix([1.2, 0.6, 0.3, 0.25, 0.15, 3.0]) + 1.5 * wo + 1.0 * arousal * (1.0 - REM)
    scalp = up(scalp_env * mod_emg) * noise(lambda f: _band(f, 15.0, fs_hi, 2))
    eeg += gains["muscle"] * scalp

    # ---------------- movement artefacts ---------------------------------------------
    mv_env = np.zeros(n_ticks, dtype=np.float32)
    if artifacts:
        mrate = (W * (0.2 / 60.0) + MT * (4.0 / 60.0) + sleep_w * (0.3 / 3600.0)) * p["movement_gain"]
        mov_t = _events(rng, mrate)
        events["movements"] = mov_t
        if mov_t.size:
            dur = rng.uniform(1.0, 8.0, mov_t.size)
            mag = rng.lognormal(0.0, 0.4, mov_t.size)
            for t0, d, m in zip(mov_t, dur, mag):
                a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
                mv_env[a:b] = np.maximum(mv_env[a:b], m)
            mv_env = _smooth(mv_env, 0.5 * _TICK_HZ)
    else:
        events["movements"] = np.zeros(0)
    low = high = None
    if artifacts and mv_env.any():
        env = up(mv_env)
        low = env * noise(_power_law(2.0, 0.2, 5.0))
        high = env * noise(lambda f: _band(f, 15.0, fs_hi, 2))
        shift = np.roll(low, int(0.05 * fs))
        for k in range(n_t):
            eeg[k] += (55.0 if k % 2 == 0 else 40.0) * (low if k % 2 == 0 else shift) + 15.0 * high
        emg += 40.0 * high * (1.0 + 0.5 * np.abs(low))

    # ---------------- ECG ------------------------------------------------------------
    hr = stage_mix([1.08, 1.0, 0.97, 0.94, 1.02, 1.1]) * p["heart_rate_bpm"] / 60.0
    hr = hr * _slow_process(rng, n_ticks, 20.0, 0.04)
    phase = np.cumsum(hr) / _TICK_HZ
    beats = np.searchsorted(phase, np.arange(1, int(phase[-1]))) / _TICK_HZ
    beats = beats + rng.uniform(0.0, 1.0 / _TICK_HZ, beats.size)
    events["heart_beats"] = beats
    ecg = np.zeros(n, dtype=np.float32)
    if beats.size:
        L = int(0.3 * fs)
        tt = np.arange(L, dtype=np.float64) / fs
        qrs = (
            np.exp(-0.5 * ((tt - 0.1) / 0.012) ** 2)
            - 0.25 * np.exp(-0.5 * ((tt - 0.125) / 0.015) ** 2)
            + 0.15 * np.exp(-0.5 * ((tt - 0.27) / 0.04) ** 2)
        )
        _add_waveforms(ecg, np.rint(beats * fs).astype(np.int64), np.broadcast_to(qrs, (beats.size, L)).copy())
        ecg *= p["ecg_uv"]
        eeg += gains["ecg"] * ecg
        emg += ecg

    # ---------------- assemble channels ----------------------------------------------
    leak_eog, leak_emg = eeg[-2], eeg[-1]
    eeg = eeg[:-2] * (p["gain_eeg"] * ch_jitter[:-2, None])
    b_hp, a_hp = sps.butter(1, 10.0 / (fs / 2), btype="high")
    emg += p["emg_leak"] * sps.lfilter(b_hp, a_hp, leak_emg).astype(np.float32)
    rows: list[np.ndarray] = []
    channel_fs: list[float] = []
    k_eeg = 0
    for name, typ, sensor in spec:
        if typ == "eeg":
            rows.append(eeg[k_eeg])
            k_eeg += 1
        elif typ == "eog":
            if sensor == "hEOG":  # bipolar across both eyes: horizontal movements, little blink
                x = eye + 0.25 * blink + p["eog_leak"] * 0.7 * leak_eog + 0.3 * scalp
            else:  # one eye against a mastoid: blinks, frontal EEG and mastoid ECG too
                x = 0.8 * eye + 0.8 * blink + p["eog_leak"] * 1.6 * leak_eog + 0.5 * scalp + 0.6 * ecg
            if low is not None:
                x = x - 60.0 * low + 15.0 * high
            rows.append(p["gain_eog"] * x)
        else:
            rows.append(p["gain_emg"] * emg)
        channel_fs.append(fs)
    out = np.stack(rows).astype(np.float32)
    del eeg, rows

    # ---------------- sweat, mains, electrode pops, amplifier noise and filters -------
    n_ch = out.shape[0]
    ep_rows = [i for i, (_, t, _) in enumerate(spec) if t in ("eeg", "eog")]
    if artifacts and p["sweat_per_h"] > 0:
        sw_t = _events(rng, np.full(n_ticks, p["sweat_per_h"] / 3600.0, dtype=np.float32) * (1.0 - W))
        events["sweat"] = sw_t
        if sw_t.size:
            env_t = np.zeros(n_ticks, dtype=np.float32)
            for t0, d in zip(sw_t, rng.uniform(60.0, 600.0, sw_t.size)):
                a, b = int(t0 * _TICK_HZ), int((t0 + d) * _TICK_HZ)
                env_t[a:b] = 1.0
            env = up(_smooth(env_t, 20.0 * _TICK_HZ))
            sway = env * noise(_power_law(2.0, 0.05, 0.6))
            for r in ep_rows:
                out[r] += rng.uniform(10.0, 80.0) * sway
    else:
        events["sweat"] = np.zeros(0)
    pops = []
    if artifacts:
        for r in ep_rows:
            pt = _events(rng, np.full(n_ticks, 0.8 / 3600.0, dtype=np.float32))
            pops.append(pt)
            if pt.size:
                L = int(3.0 * fs)
                tt = np.arange(L, dtype=np.float64) / fs
                tau = rng.uniform(0.15, 0.6, pt.size)
                amp = rng.choice([-1.0, 1.0], pt.size) * rng.uniform(80.0, 250.0, pt.size)
                _add_waveforms(out[r], np.rint(pt * fs).astype(np.int64), amp[:, None] * np.exp(-tt[None, :] / tau[:, None]))
    events["electrode_pops"] = np.sort(np.concatenate(pops)) if pops else np.zeros(0)
    scale = np.array([0.5 if t == "emg" else 1.0 for _, t, _ in spec], dtype=np.float32)[:, None]
    out += p["noise_uv"] * rng.standard_normal((n_ch, n), dtype=np.float32) * scale
    line_f = p["line_hz"]
    if artifacts and p["line_uv"] > 0 and fs > 2.2 * line_f:  # a 100-Hz recording's anti-alias filter removes mains
        line = np.sin(2 * np.pi * line_f * t_samp).astype(np.float32)
        for r in range(n_ch):
            out[r] += p["line_uv"] * rng.lognormal(0.0, 0.7) * up(_slow_process(rng, n_ticks, 600.0, 0.5)) * line
    # amplifier filters: first-order high-pass and a second-order low-pass on EEG/EOG
    sos = [sps.butter(1, p["hp_hz"] / (fs / 2), btype="high", output="sos")]
    if p["lp_hz"] < 0.45 * fs:
        sos.append(sps.butter(2, p["lp_hz"] / (fs / 2), output="sos"))
    sos = np.concatenate(sos)
    out[ep_rows] = sps.sosfilt(sos, out[ep_rows], axis=-1).astype(np.float32)
    for r, (_, typ, sensor) in enumerate(spec):
        if sensor == "chin_envelope":  # Sleep-EDF SC: HP 16 Hz, rectified, LP 0.7 Hz, 1 Hz
            hp16 = sps.sosfilt(sps.butter(2, 16.0 / (fs / 2), btype="high", output="sos"), out[r])
            env = sps.sosfilt(sps.butter(1, 0.7 / (fs / 2), output="sos"), np.abs(hp16))
            sec = int(round(fs))
            per_s = env[: n // sec * sec].reshape(-1, sec).mean(axis=1)
            out[r] = np.repeat(per_s, sec)[:n].astype(np.float32) if n % sec == 0 else \
                np.interp(t_samp, np.arange(per_s.size) + 0.5, per_s).astype(np.float32)
            channel_fs[r] = 1.0
    scored = scorer_labels(hyp, np.random.default_rng([seed, 104729]), label_noise)
    return SyntheticNight(
        signals=out,
        fs_hz=fs,
        channel_names=[c[0] for c in spec],
        channel_types=[c[1] for c in spec],
        hypnogram=hyp,
        epoch_s=epoch_s,
        seed=seed,
        params=p,
        events=events,
        montage=montage,
        scored=scored,
        channel_fs_hz=channel_fs,
    )


