"""``benchmarks/sim2real_prior_shift.py``: EM re-estimation of a recording's stage prior."""
import sys

import numpy as np
import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO))

from benchmarks.sim2real_prior_shift import em_prior, main  # noqa: E402


def test_em_recovers_a_shifted_prior_from_calibrated_posteriors():
    """With posteriors that are calibrated for the training prior, EM finds the test prior
    (here mostly class 0 where training was balanced) without any test label."""
    rng = np.random.default_rng(0)
    means = np.array([0.0, 1.5, 3.0])
    train_prior = np.full(3, 1 / 3)
    test_prior = np.array([0.7, 0.2, 0.1])
    y = rng.choice(3, size=4000, p=test_prior)
    x = means[y] + rng.standard_normal(y.size)
    lik = np.exp(-0.5 * (x[:, None] - means[None]) ** 2)
    post = lik * train_prior
    post /= post.sum(1, keepdims=True)
    q, prior = em_prior(post, train_prior)
    assert np.abs(prior - test_prior).max() < 0.05
    assert np.allclose(q.sum(1), 1.0)
    assert np.mean(q.argmax(1) == y) > np.mean(post.argmax(1) == y)  # adapted decisions are better here


def test_main_names_the_missing_file_and_the_fix(tmp_path):
    with pytest.raises(SystemExit, match="real_probs.npz.*--keep"):
        main([str(tmp_path)])
