"""Internal storage (files between tasks, large XComs) and the state store service.

Imports ``models``/``db`` and below; never ``execution``, ``scheduler`` or the web/CLI.
"""
