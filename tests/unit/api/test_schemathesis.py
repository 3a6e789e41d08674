"""Property-based run of schemathesis over the generated OpenAPI document: no 5xx, every response conforms.

Bounded for CI: a few examples per operation, derandomized, against the Flask app on a real
(SQLite) database, authenticated as admin. Destructive operations (DELETE) are left out so
the run keeps exercising the same data.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.unit.api.conftest import Api  # noqa: E402

EXAMPLES_PER_OPERATION = 8


@pytest.mark.slow
@pytest.mark.parametrize("db_any", ["sqlite"], indirect=True)
def test_no_server_error_and_responses_conform(api: Api) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v2/openapi.json", api.app)
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE":
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):  # type: ignore[no-untyped-def]
            response = case.call(headers=api.headers["admin"])
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(label)
                return
            for validate in (status_code_conformance, content_type_conformance, response_schema_conformance):
                try:
                    validate(None, response, case)  # type: ignore[arg-type]
                except AssertionError as exc:
                    failures.append(f"{label}: {validate.__name__}: {str(exc).splitlines()[0]}")

        from hypothesis import given

        given(operation.as_strategy())(check)()
        ran += 1
    assert ran > 20
    assert sorted(set(failures)) == []
