"""Registered task objects: everything that differs between sleep staging and the ECG tasks.

=================  ===========================================================================
name               what
=================  ===========================================================================
``sleep``          :class:`~.sleep.SleepTask`: 5 stages per 30-s epoch, softmax, kappa, sequence
                   post-processing (``data.task: sleep``)
``ecg_multilabel`` :class:`~.ecg.ECGMultilabelTask`: one sigmoid per class, Challenge score,
                   tuned thresholds (``data.task: ecg``, ``data.ecg_task: multilabel``)
``ecg_binary``     :class:`~.ecg.ECGBinaryTask`: normal vs abnormal (or one class vs the rest),
                   one tuned threshold (``data.task: ecg``, ``data.ecg_task: binary``)
=================  ===========================================================================

:func:`task_for` picks the task of a config's ``data`` section.
"""
from __future__ import annotations

from ..registry import Registry
from .base import Task, TaskSpec
from .ecg import ECGBinaryTask, ECGMultilabelTask
from .sleep import SleepTask

__all__ = ["TASKS", "Task", "TaskSpec", "task_for", "task_name"]

#: Tasks by name.
TASKS: Registry[Task] = Registry("task", "data.task")
for _task in (SleepTask(), ECGMultilabelTask(), ECGBinaryTask()):
    TASKS.register(_task.name, _task)


def task_name(data) -> str:
    """The registry name of the task a ``data`` section (a ``DataConfig`` or its dict) sets."""
    get = data.get if isinstance(data, dict) else lambda k, d=None: getattr(data, k, d)
    return "sleep" if get("task", "sleep") == "sleep" else f"ecg_{get('ecg_task', 'multilabel')}"


def task_for(data) -> Task:
    """The :class:`Task` of a ``data`` section (``DataConfig`` or a saved config's dict)."""
    return TASKS.get(task_name(data))
