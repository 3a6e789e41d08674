"""dagflow's Airflow compatibility layer: the ``airflow`` import names, mapped onto dagflow.

This is not Apache Airflow. It lets DAG files written for Airflow 2.x/3.x import what they
need (``airflow.sdk``, ``airflow.decorators``, ``airflow.providers.standard.*``...) and run on
dagflow unchanged. A name it does not map fails when the DAG file is imported, as an import
error naming the name; see dagflow's docs/airflow.md. It refuses to load next to a real
Apache Airflow installation, which it would otherwise shadow.
"""

from __future__ import annotations

from airflow._compat import refuse_real_airflow

refuse_real_airflow()

from dagflow.sdk import DAG  # noqa: E402 - after the check above

#: The Airflow API level this layer follows (Airflow 3's ``airflow.sdk`` names, and Airflow 2's paths).
__version__ = "3.0.0"
#: Marks this package as dagflow's layer, not Apache Airflow (``dagflow`` checks it).
DAGFLOW_AIRFLOW_COMPAT = True

__all__ = ["DAG", "__version__"]
