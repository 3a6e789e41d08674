"""The triggerer: runs the triggers of deferred task instances in one asyncio loop (``dagflow triggerer``).

``store`` (the trigger table: claim, hand an event or a failure back to the task
instances, time out deferrals, drop unused triggers), ``runner`` (the asyncio side:
one task per trigger; also ``run_inline`` for ``dags test``), ``job`` (the process: its
``job`` row, heartbeat and loop). A deferred task instance holds no worker or pool slot:
only a row here and a coroutine in a triggerer.

May import ``execution`` and below; the scheduler and the services import it.
"""
