"""schemathesis against /openapi.json of a real host: no 5xx, no response that breaks
the schema (status codes, content types, bodies), with and without the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from zepix_core.api import Context, build_app, read_settings
from zepix_core.host.host import Host, create_host

pytestmark = pytest.mark.slow


@pytest.fixture
def host(zepix_home: Path) -> Iterator[Host]:
    config = zepix_home / "zepix.toml"
    config.write_text("[host]\nwarmup_bars = 5\nbars_per_round = 1\n", encoding="utf-8")
    host = create_host(config, zepix_home / "zepix.db")
    host.start()
    host.work()
    host.round()
    try:
        yield host
    finally:
        host.shutdown()
        host.store.close()


@pytest.fixture
def api_schema(host: Host, zepix_home: Path) -> Any:
    # The ASGI test client schemathesis uses sends ``Host: testserver``.
    found = read_settings({"allowed_hosts": ["testserver"]}, zepix_home)
    assert found is not None
    # No round timer runs here: a period of an hour keeps /healthz fresh however
    # long a loaded machine takes to walk the schema (a 503 there is by design).
    app = build_app(Context(host, host.store, found, 3600.0))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_input_breaks_the_api(api_schema: Any, zepix_home: Path) -> None:
    token = (zepix_home / "api-token").read_text(encoding="utf-8").strip()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 36  # every route of contract sections 9, 14, 15 and 16, /docs
    # and /api/v1/session (the dashboard asks whose token it has)
    for operation in operations:
        check_operation(operation, token)


def check_operation(operation: Any, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=6, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

    run()
