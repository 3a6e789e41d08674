"""dagflow's benchmark suite: the workloads of SPEC §5 run through the real processes.

``python -m benchmarks`` (from the repository root) generates the DAG files into a
temporary ``DAGFLOW_HOME``, starts the real ``dagflow scheduler`` / ``dagflow
dag-processor`` (and ``dagflow celery worker``) subprocesses, triggers runs with
``dagflow dags trigger``, reads the outcome from the metadata DB, and prints a table
of medians (min/max) with the peak memory of the scheduler and the workers.

Modules: ``workloads`` (the DAG files), ``configs`` (SQLite + LocalExecutor,
PostgreSQL + CeleryExecutor, and whether each is available here), ``memory`` (RSS
sampling of process trees), ``runner`` (one measured run), ``report`` (table, JSON),
``cli`` (options). Nothing in ``dagflow`` imports this package.
"""
