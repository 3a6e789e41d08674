"""dagflow's benchmark suite: the workloads of SPEC §5 and issue 17 run through the real processes.

``python -m benchmarks`` (from the repository root) generates the DAG files into a
temporary ``DAGFLOW_HOME``, starts the real ``dagflow scheduler`` / ``dagflow
dag-processor`` (and ``dagflow celery worker``) subprocesses, triggers runs with
``dagflow dags trigger``, reads the outcome from the metadata DB, and prints a table
of medians (min/max) with the peak memory of the scheduler and the workers.

Modules: ``workloads`` (the DAG files), ``configs`` (SQLite + LocalExecutor,
PostgreSQL + CeleryExecutor, whether each is available here, and which checkout's
dagflow runs), ``memory`` (RSS/PSS sampling of process trees, CPU), ``runner`` (one
measured run of a triggered or parse workload), ``scale`` (the dags and history
workloads), ``seeding`` (bulk SQL history, shared with ``api_latency`` and
``ui_pages``), ``report`` (table, JSON), ``cli`` (options). Nothing in ``dagflow``
imports this package.
"""
