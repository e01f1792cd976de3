"""The pipeline's steps, one module per CLI verb that works on a run's files.

==============  ==========================================================================
module          verb (wrapper): reads -> writes
==============  ==========================================================================
``blend``       ``sigvision blend`` (``blend.py``): ``preds/<model>_<split>_<ckpt>.npy`` ->
                ``files_blend_<method>_<split>.csv`` + ``.json`` report
``postprocess`` ``sigvision postprocess`` (``postprocess.py``): the blend CSV ->
                ``files_post.csv`` (+ a competition answer file)
``evaluate``    ``sigvision evaluate``: ``files_post.csv`` -> ``eval/`` metrics, plots, report
==============  ==========================================================================

Each step asks the config's task (:mod:`sigvision.tasks`) for what differs between sleep
staging and ECG classification; none tests ``data.task`` itself.
"""
