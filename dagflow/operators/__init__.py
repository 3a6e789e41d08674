"""Standard operators: Empty, Python, Bash, Branch, ShortCircuit, LatestOnly, Script, Switch,
TriggerDagRun, Approval, BranchDateTime and BranchDayOfWeek.

Built on ``dagflow.sdk``; must not import the DB layer (models, db, execution, scheduler).
"""

from __future__ import annotations

from dagflow.operators.approval import ApprovalOperator
from dagflow.operators.bash import BashOperator
from dagflow.operators.branch import BaseBranchOperator
from dagflow.operators.datetime import BranchDateTimeOperator
from dagflow.operators.empty import DummyOperator, EmptyOperator
from dagflow.operators.latest_only import LatestOnlyOperator
from dagflow.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from dagflow.operators.script import ScriptOperator
from dagflow.operators.switch import SwitchOperator
from dagflow.operators.trigger_dagrun import TriggerDagRunOperator
from dagflow.operators.weekday import BranchDayOfWeekOperator
from dagflow.sdk.baseoperator import BaseOperator

__all__ = [
    "ApprovalOperator",
    "BaseBranchOperator",
    "BaseOperator",
    "BashOperator",
    "BranchDateTimeOperator",
    "BranchDayOfWeekOperator",
    "BranchPythonOperator",
    "DummyOperator",
    "EmptyOperator",
    "LatestOnlyOperator",
    "PythonOperator",
    "ScriptOperator",
    "ShortCircuitOperator",
    "SwitchOperator",
    "TriggerDagRunOperator",
]
