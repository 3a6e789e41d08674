"""Turning DAG files into serialized DAGs and import errors in the metadata DB.

``loader`` imports DAG files (the only place that does); ``parse_child`` and
``parse_server`` run that import in isolated, time- and memory-limited processes;
``pool`` is the parent's handle on them; ``file_tracker`` decides what needs parsing;
``apply`` and ``store`` write the results; ``processor`` ties it together
(``DagProcessor.scan`` / ``scan_if_due`` / ``run``); ``sync`` parses in-process for the
CLI. This package must not import ``scheduler``, ``services``, ``cli``, ``www`` or ``api``.
"""
