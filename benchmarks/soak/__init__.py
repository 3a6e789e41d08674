"""The reliability soak: ``python -m benchmarks soak`` (issue 21, docs/reliability.md "The soak").

A mixed workload of N task instances runs through two schedulers (one on SQLite), a
standalone DAG processor and workers, on servers the soak starts itself (a PostgreSQL
cluster and a Redis of its own on free ports, removed at the end; an own SQLite home for
the LocalExecutor). A seeded fault injector kills and freezes processes and restarts
servers at random moments; every task execution appends to a ledger outside dagflow.
Afterwards the invariants are checked from the ledger and the database, and a report
(printed, and JSON) gives the faults by kind, what was lost, doubled or overlapping, the
processes that died by themselves and the recovery time after each kind of fault.

- ``workload``: the DAG file and how many runs make N task instances.
- ``deployment``: the servers and the dagflow processes.
- ``faults``: the fault kinds and the seeded injector.
- ``checks``: the ledger and the invariants.
- ``cli``: options, the run, the report.
"""
