# One image for every dagflow component; the command picks which one runs:
#   docker run IMAGE scheduler | dag-processor | celery worker --queues default | db migrate | standalone
# (`webserver` once the web UI exists). See docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a wheel of dagflow, installed with its extras into /opt/venv ------------------
FROM ${PYTHON_IMAGE} AS build
ARG DAGFLOW_EXTRAS=postgres,celery
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dagflow ./dagflow
COPY migrations ./migrations
COPY dags_example ./dags_example
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/venv/bin/pip install "$(ls /tmp/wheels/dagflow-*.whl)[${DAGFLOW_EXTRAS}]"

# --- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# tini is PID 1: it forwards SIGTERM to dagflow and reaps the processes dagflow starts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.py /usr/local/bin/dagflow-entrypoint
COPY docker/healthcheck.py /usr/local/bin/dagflow-healthcheck

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGFLOW_HOME=/opt/dagflow \
    DAGFLOW__CORE__DAGS_FOLDER=/opt/dagflow/dags \
    DAGFLOW__LOGGING__BASE_LOG_FOLDER=/opt/dagflow/logs \
    DAGFLOW__CORE__LOAD_EXAMPLES=false

# A fixed, non-root uid (50000, as in Airflow's image) so file ownership on shared
# volumes is the same in every container. Group 0 lets platforms that run images under a
# random uid (OpenShift) still write to DAGFLOW_HOME.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/dagflow --create-home --shell /bin/bash dagflow \
 && mkdir -p /opt/dagflow/dags /opt/dagflow/logs /opt/dagflow/storage \
 && chown -R 50000:0 /opt/dagflow && chmod -R g+rwX /opt/dagflow \
 && chmod 0755 /usr/local/bin/dagflow-entrypoint /usr/local/bin/dagflow-healthcheck

USER 50000
WORKDIR /opt/dagflow
VOLUME ["/opt/dagflow/dags", "/opt/dagflow/logs"]

# Long-running components report health from their heartbeat in the metadata DB (the
# scheduler and the DAG processor); other commands are healthy while they run.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["dagflow-healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "dagflow-entrypoint"]
CMD ["standalone"]
