"""``benchmarks/synthetic_realism.py --contrasts``: gain-free stage contrasts and spread."""
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.synthetic_realism import band_db, main, stage_contrasts  # noqa: E402


def test_contrasts_cancel_each_recordings_gain():
    rng = np.random.default_rng(0)
    recs = []
    for gain_db in (-6.0, 0.0, 9.0):  # three subjects/amplifiers, same physiology
        st = np.array([2] * 20 + [3] * 10 + [0] * 6)
        db = np.zeros((st.size, 2)) + gain_db
        db[st == 3, 0] += 4.0  # N3: +4 dB in the first band
        db[st == 0, 1] -= 8.0  # W: -8 dB in the second
        db[st == 0] += rng.choice([-3.0, 3.0], size=(6, 2))  # wake epochs differ from one another
        recs.append((db, st))
    contrast, spread = stage_contrasts(recs + [(np.zeros((4, 2)), np.full(4, 2))])  # <5 N2: skipped
    np.testing.assert_allclose(contrast[2], 0.0)
    np.testing.assert_allclose(contrast[3], [4.0, 0.0])
    assert contrast[0][1] == pytest.approx(-8.0, abs=3.0)
    np.testing.assert_allclose(spread[3], 0.0)
    assert (spread[0] >= 3.0).all()  # +-3 dB epoch to epoch
    assert set(contrast) == {0, 2, 3}


def test_band_db_is_the_psd_level():
    fs = 100.0
    x = np.random.default_rng(1).standard_normal((3, 30000)) * 10.0  # white, 100 uV^2 over 50 Hz
    db = band_db(x, fs)
    np.testing.assert_allclose(db, 10 * np.log10(100.0 / 50.0), atol=0.6)


def test_contrasts_needs_real_recordings(capsys):
    with pytest.raises(SystemExit):
        main(["--contrasts"])
    assert "--real" in capsys.readouterr().err


def test_leave_one_recording_out_probe_reference():
    """The real-trained reference probe: high where the band powers separate the stages the
    same way in every recording, about zero where they carry no stage information."""
    from benchmarks.synthetic_realism import loro_probe_kappa

    rng = np.random.default_rng(2)
    sep, noise, ys = [], [], []
    for r in range(4):
        y = rng.integers(0, 5, 120)
        centre = np.eye(5)[y] @ rng.normal(0, 0.2, (5, 6)) + 3.0 * np.eye(5, 6)[y]
        sep.append(centre + rng.normal(0, 1.0, (120, 6)) + r)  # a per-recording offset too
        noise.append(rng.normal(0, 1.0, (120, 6)))
        ys.append(y)
    assert loro_probe_kappa(sep, ys) > 0.7
    assert abs(loro_probe_kappa(noise, ys)) < 0.15
    with pytest.raises(ValueError, match="two real recordings"):
        loro_probe_kappa(sep[:1], ys[:1])
