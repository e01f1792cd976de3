"""Training: k-fold training of one model per ``sigvision train`` (``mainViT.py`` /
``mainEff.py``).

============================  ===============================================================
module                        what
============================  ===============================================================
:mod:`.loop`                  ``train`` and ``train_fold``: the epoch loop, early stopping,
                              AMP, ``torchrun``
:mod:`.folds`                 subject-wise fold assignment shared by every model
:mod:`.data`                  datasets, augmentation, samplers and loaders
:mod:`.forward`               batched forward passes of one model over a dataset
:mod:`.checkpoints`           checkpoint paths, saving and loading with their checks
============================  ===============================================================

Optimisers and losses by name: :mod:`sigvision.train.optim`, :mod:`sigvision.train.losses`.
"""
