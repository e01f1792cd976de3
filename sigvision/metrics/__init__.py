"""Metrics, as functions of arrays.

==========================  ===================================================================
module                      what
==========================  ===================================================================
:mod:`.classification`      accuracy, macro-F1, Cohen's kappa, confusion matrices, the scores
                            a blend is fitted on, per-record grouping
:mod:`.sleepstats`          sleep statistics of a hypnogram (TST, SE, latencies, stage
                            minutes and percentages) and their comparison with the truth
:mod:`.challenge`           the PhysioNet/CinC Challenge metric (2021 and 2020)
:mod:`.ecg`                 multi-label and binary ECG metrics, per-class tables, the guard
                            against degenerate decision rules
==========================  ===================================================================
"""
