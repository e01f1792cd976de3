"""Training-time augmentation.

:mod:`.image`: FMix (Harris et al. 2020) and seeded cutout for rendered images (the MAIC 2021
recipe); :mod:`.signal`: ECG augmentations for 1-D models (baseline wander, noise, amplitude
scaling, time shift, lead dropout).
"""
