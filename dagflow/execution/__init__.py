"""Running one task instance try: claim, fork, heartbeat, render, execute, record, callbacks.

Entry point: ``dagflow.execution.runner.run_workload(workload, settings)``. Imports
``storage``, ``models``/``db`` and the SDK; never executors, the scheduler or the web/CLI.
"""
