"""Odd requests get a 4xx naming what is wrong, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.keys import Role
from tests.conftest import auth

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("role", "url", "field"),
    [
        (Role.admin, f"/v1/audit?after_seq={HUGE}", "query.after_seq"),
        (Role.marketer, f"/v1/outbox?offset={HUGE}", "query.offset"),
        (Role.marketer, f"/v1/outbox/emails?offset={HUGE}", "query.offset"),
        (Role.marketer, "/v1/customers/u1?as_of=9999-12-31T23:00:00-05:00", "query.as_of"),
        (Role.marketer, "/v1/customers/u1?as_of=1969-01-01T00:00:00Z", "query.as_of"),
    ],
)
def test_out_of_range_query_values_are_422_naming_the_parameter(
    client: TestClient, role_keys: dict[Role, str], role: Role, url: str, field: str
) -> None:
    resp = client.get(url, headers=auth(role_keys[role]))
    assert resp.status_code == 422, resp.text
    assert field in [f["field"] for f in resp.json()["error"]["fields"]]


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/v1/customers/a%00b", "path"),
        ("/v1/customers/a%00b/timeline", "path"),
        ("/v1/decide?customer_id=a%00b&placement=home_hero", "query"),
    ],
)
def test_a_nul_character_in_the_url_is_400(
    client: TestClient, role_keys: dict[Role, str], url: str, where: str
) -> None:
    resp = client.get(url, headers=auth(role_keys[Role.admin]))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["fields"] == [{"field": where, "reason": "must not contain NUL"}]


def test_malformed_json_names_the_body_and_where_it_breaks(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    resp = client.post(
        "/v1/controls/pause",
        headers={**auth(role_keys[Role.marketer]), "Content-Type": "application/json"},
        content=b'{"scope": "all",}',
    )
    assert resp.status_code == 422, resp.text
    [field] = resp.json()["error"]["fields"]
    assert field["field"] == "body" and field["reason"].startswith("invalid JSON at character ")
