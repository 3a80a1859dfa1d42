"""The scheduler: picks a node for each pending task, and says why when none fits.

Owns: node bookkeeping (``nodeinfo``), the filter pipeline (``filters``) and node choice
(``scheduler``). It only sets ``node_id`` and the ASSIGNED state; it never creates tasks.
"""

from engine.manager.scheduler.scheduler import Scheduler

__all__ = ["Scheduler"]
