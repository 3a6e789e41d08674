"""The scheduler: decide what each DAG run does next, and write those decisions.

``trigger_rules`` (pure: upstream counts -> verdict) and ``planner`` (pure: a serialized
DAG and one run's task-instance states -> ``RunPlan``) hold every scheduling decision;
the loop, the applier, the reaper and the SLA checker do the I/O. This package may
import ``serialization``, ``models``/``db``, ``executors``/``execution`` and below; it
must never import a DAG file, ``services``, ``cli``, ``www`` or ``api``.
"""
