"""What a person can do with dagflow (trigger, test, clear, mark, pause, list, ...).

One place, used by the CLI, the REST API and the web UI; each function takes the
``Database``/``Settings`` it needs and opens its own transaction. Nothing here prints.
Must not import ``dagflow.cli``, ``dagflow.www`` or ``dagflow.api``.
"""
