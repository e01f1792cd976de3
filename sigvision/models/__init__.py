"""Models: :mod:`.factory` builds any timm model or one registered in
:data:`sigvision.registry.MODELS` (with optional age/sex meta features and local pretrained
weights); :mod:`.resnet1d` registers the 1-D ResNets for multi-lead signals and the classical
ECG baseline as a model."""
