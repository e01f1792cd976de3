"""Classical baselines the deep ensembles must beat: :mod:`.ecg` (R-peak and band-power
features with logistic regression) and :mod:`.sleep` (per-epoch EEG amplitude, Hjorth,
entropy and relative band-power features with a random forest)."""
