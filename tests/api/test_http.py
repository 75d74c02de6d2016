"""GraphQL over HTTP: media types, methods and status codes of the specification."""

from __future__ import annotations

import httpx

from accounts_gql.core.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_post_answers_in_graphql_response_json_when_accepted(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ contactTypes { code } }"},
        headers={"accept": f"{GRAPHQL_RESPONSE}, application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    codes = {item["code"] for item in response.json()["data"]["contactTypes"]}
    assert {"email", "phone"} <= codes


async def test_legacy_clients_get_application_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ contactTypes { code } }"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


async def test_get_runs_queries(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ contactTypes { code } }"})
    assert response.status_code == 200
    assert response.json()["data"]["contactTypes"]


async def test_get_refuses_mutations(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "errors" in response.json()


async def test_body_that_is_not_json_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b"{not json",
        headers={"content-type": "application/json", "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


async def test_unsupported_media_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b"{ contactTypes { code } }",
        headers={"content-type": "text/plain", "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 415
    assert response.json()["errors"]


async def test_syntax_error_is_a_bad_request_without_data(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ contactTypes { "}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_invalid_document_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ noSuchField }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    assert "noSuchField" in response.json()["errors"][0]["message"]


async def test_unacceptable_accept_header(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ contactTypes { code } }"}, headers={"accept": "text/csv"}
    )
    assert response.status_code == 406


async def test_a_bad_token_is_an_authentication_error_not_anonymous(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ contactTypes { code } }"},
        headers={"authorization": "Bearer not-a-token", "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert len(response.headers["x-request-id"]) >= 16


async def test_metrics_count_requests_in_prometheus_format(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await client.post("/graphql", json={"query": "{ contactTypes { code } }"})
    response = await client.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'accounts_http_requests_total{path="/graphql",status="200"}' in response.text
    assert "accounts_http_request_seconds_bucket" in response.text


async def test_metrics_show_the_connections_lent_to_queries(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Queries take at most half the pool (db/lending.py); an operator sees how
    much of it they use and how many wait."""
    await client.post("/graphql", json={"query": "{ contactTypes { code } }"})
    response = await client.get(f"http://127.0.0.1:{settings.metrics_port}/metrics")
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line.startswith(("accounts_query_connections{", "accounts_queries_waiting"))
    }
    limit = max(1, settings.db_pool_max // 2)
    assert samples['accounts_query_connections{pool="primary",state="limit"}'] == limit
    assert samples['accounts_query_connections{pool="primary",state="kept"}'] >= 1
    assert samples['accounts_query_connections{pool="primary",state="in_use"}'] >= 0
    assert samples['accounts_queries_waiting_for_connection{pool="primary"}'] == 0
