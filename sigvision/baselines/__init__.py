"""Classical baselines the deep ensembles must beat: :mod:`.ecg` (R-peak and band-power
features with logistic regression)."""
