"""Assets: a producer records events with extra; a consumer scheduled on them reads its triggering events.

Only the producer is an ``expected.json`` case; the consumer (unpaused at creation, so a
producer run queues it) is checked by the scheduler-mode and Celery tests: it must get an
``asset_triggered`` run that reads the producer's event.
"""
from datetime import datetime

from dagflow import DAG, Asset, task
from dagflow.operators import PythonOperator

orders = Asset("file:///acceptance/orders.csv")
customers = Asset("file:///acceptance/customers.csv")


def write_orders(outlet_events, dag_run):
    outlet_events[orders].extra = {"rows": 3, "run_id": dag_run.run_id}


with DAG("acc_assets_producer", schedule=None, start_date=datetime(2024, 1, 1)):
    @task(outlets=[customers])
    def write_customers():
        return "customers"

    PythonOperator(task_id="write_orders", python_callable=write_orders, outlets=[orders]) >> write_customers()


def read(inlet_events, dag_run):
    events = inlet_events[orders]
    if dag_run.run_type == "asset_triggered":
        if not events or events[-1].extra.get("rows") != 3:
            raise ValueError(f"expected the producer's orders event, got {events!r}")
    return [event.extra for event in events]


with DAG("acc_assets_consumer", schedule=(orders & customers), start_date=datetime(2024, 1, 1),
         is_paused_upon_creation=False):
    PythonOperator(task_id="read", python_callable=read, inlets=[orders])
