# One image for every dagflow component; the command picks which one runs:
#   docker run dagflow scheduler | dag-processor | webserver | celery worker | standalone
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGFLOW_HOME=/opt/dagflow \
    DAGFLOW__CORE__DAGS_FOLDER=/opt/dagflow/dags \
    DAGFLOW__CORE__LOAD_EXAMPLES=false

RUN useradd --create-home --uid 50000 --home-dir /opt/dagflow dagflow
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dagflow ./dagflow
COPY migrations ./migrations
COPY dags_example ./dags_example
RUN pip install ".[postgres,celery,web]" && rm -rf /src

USER dagflow
WORKDIR /opt/dagflow
VOLUME ["/opt/dagflow/dags", "/opt/dagflow/logs"]
ENTRYPOINT ["dagflow"]
CMD ["standalone"]
