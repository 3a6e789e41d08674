"""Human-in-the-loop operators: not available."""

from __future__ import annotations

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "ApprovalOperator": "human-in-the-loop operators are not available (dagflow's ApprovalOperator is close to ApprovalOperator but differs)",
        "HITLOperator": "human-in-the-loop operators are not available (dagflow's ApprovalOperator is close to ApprovalOperator but differs)",
        "HITLBranchOperator": "human-in-the-loop operators are not available (dagflow's ApprovalOperator is close to ApprovalOperator but differs)",
        "HITLEntryOperator": "human-in-the-loop operators are not available (dagflow's ApprovalOperator is close to ApprovalOperator but differs)",
    },
)
