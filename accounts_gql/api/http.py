"""GraphQL over HTTP (the GraphQL-over-HTTP specification), served at /graphql.

POST with an `application/json` body, or GET with the query in the URL (queries
only). Answers in `application/graphql-response+json` when the client accepts
it, else `application/json`, with the status codes the specification gives.
Documents are parsed and validated once per distinct text (`DocumentCache`),
and results are written with orjson.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLFormattedError,
    OperationType,
    execute,
)
from loguru import logger
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from accounts_gql.api.context import Context
from accounts_gql.api.engine import adapter
from accounts_gql.api.engine.documents import DocumentCache
from accounts_gql.api.engine.executor import PlannedExecution
from accounts_gql.api.engine.limits import Limits, variable_cost_errors
from accounts_gql.api.ide import graphiql_page, wants_graphiql
from accounts_gql.api.metrics import READ_ROUTES
from accounts_gql.api.persisted import PersistedDocuments
from accounts_gql.api.schema import schema
from accounts_gql.api.text import variables_nul_errors
from accounts_gql.core.errors import DomainError
from accounts_gql.core.logging import request_id
from accounts_gql.core.security import VerifiedTokens
from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.health import DatabaseHealth, is_unavailable
from accounts_gql.db.pool import Database, Executor, RequestConnection
from accounts_gql.db.replica import ReadRouter, Route, decode_token, encode_token
from accounts_gql.services.reads.loaders import Loaders

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# Read-your-writes with a replica (db/replica.py): a mutation's answer carries the
# token in this header and in `extensions.consistencyToken`; a request sends it
# back in the same header.
CONSISTENCY_HEADER = "x-consistency-token"
# Seconds a client should wait before retrying a SERVICE_UNAVAILABLE answer:
# the service reconnects within a fraction of a second of the database's return.
RETRY_AFTER = 1
UNAVAILABLE_MESSAGE = "The database is unavailable; retry shortly."


class RequestError(Exception):
    """A request that cannot be executed at all; answered with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        code: str = "BAD_REQUEST",
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code
        self.extensions = extensions


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request: the verified viewer and the client's address.

    The address is the TCP peer's; behind a proxy, uvicorn's --forwarded-allow-ips
    decides whether X-Forwarded-For may replace it (never trust it from anyone).
    """

    viewer: Viewer
    address: str | None
    # Kept with the sessions the request opens (`me { sessions { userAgent } }`).
    user_agent: str | None = None
    consistency: Consistency = field(default_factory=lambda: Consistency(None))


@dataclass(slots=True)
class Consistency:
    """The WAL position a request's queries must see (the token it sent), and
    the one its mutations reached (the token it gets back)."""

    seen: int | None
    written: int | None = None


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def negotiate_media_type(accept: str | None) -> str | None:
    """The response type to use, or None when the client accepts neither."""
    if not accept:
        return JSON
    accepted = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in accepted:
        return GRAPHQL_RESPONSE
    if JSON in accepted or "*/*" in accepted or "application/*" in accepted:
        return JSON
    return None


def params_from_mapping(data: Any) -> GraphQLParams:
    if not isinstance(data, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    query = data.get("query")
    persisted = isinstance(data.get("extensions"), dict) and "persistedQuery" in data["extensions"]
    if query is None and persisted:
        pass  # a persisted document's hash stands in for the text
    elif not isinstance(query, str) or not query.strip():
        raise RequestError(400, "The request must have a 'query' string.")
    operation_name = data.get("operationName")
    variables = data.get("variables")
    extensions = data.get("extensions")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "'operationName' must be a string.")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "'variables' must be a JSON object.")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "'extensions' must be a JSON object.")
    return GraphQLParams(query, operation_name, variables, extensions)


def _json_param(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, f"The '{name}' parameter is not valid JSON.") from error


def _body_too_large(max_bytes: int) -> RequestError:
    return RequestError(
        413,
        f"The request body may be at most {max_bytes} bytes.",
        code="BODY_TOO_LARGE",
        limit=max_bytes,
    )


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 past `max_bytes` (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _body_too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _body_too_large(max_bytes)
    return bytes(body)


async def read_params(request: Request, settings: Settings) -> list[GraphQLParams] | GraphQLParams:
    """One operation, or a batch (a JSON array of operations) as a list."""
    if request.method == "GET":
        return params_from_mapping(
            {
                "query": request.query_params.get("query"),
                "operationName": request.query_params.get("operationName"),
                "variables": _json_param(request, "variables"),
                "extensions": _json_param(request, "extensions"),
            }
        )
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != JSON:
        raise RequestError(415, "Send the request as 'application/json'.")
    body = await read_body(request, settings.max_body_bytes)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "The request body is not valid JSON.") from error
    if isinstance(data, list):
        if not data or len(data) > settings.max_batch_operations:
            raise RequestError(
                400,
                f"A batch holds 1 to {settings.max_batch_operations} operations.",
                code="TOO_MANY_OPERATIONS" if data else "BAD_REQUEST",
                limit=settings.max_batch_operations,
            )
        return [params_from_mapping(item) for item in data]
    return params_from_mapping(data)


def read_consistency(request: Request) -> Consistency:
    """The consistency token the request carries, if any (400 when it is not one)."""
    token = request.headers.get(CONSISTENCY_HEADER)
    if token is None:
        return Consistency(None)
    position = decode_token(token.strip())
    if position is None:
        raise RequestError(400, "X-Consistency-Token must be a token this service returned.")
    return Consistency(position)


def with_extension(body: bytes, key: str, value: str) -> bytes:
    """An encoded result (a JSON object, as `encode` writes it) with `extensions.key`."""
    return body[:-1] + b',"extensions":' + orjson.dumps({key: value}) + b"}"


def error_body(message: str, code: str, **extensions: Any) -> bytes:
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


class GraphQLEndpoint:
    """The ASGI endpoint at /graphql."""

    def __init__(self, settings: Settings, state: dict[str, Any]) -> None:
        self.settings = settings
        self.state = state
        self.graphql_schema = adapter.graphql_schema(schema)
        self.execution_context_class = adapter.execution_context_class(schema)
        self.documents = DocumentCache(
            self.graphql_schema,
            Limits(settings.max_query_depth, settings.max_aliases, settings.max_query_cost),
            max_size=settings.max_documents_cached,
            max_tokens=settings.max_tokens,
            introspection=settings.introspection_enabled,
        )
        self.persisted = PersistedDocuments(settings.trusted_documents)
        self.tokens = VerifiedTokens(settings)
        self.planned = (
            PlannedExecution(schema, max_size=settings.max_documents_cached)
            if settings.compiled_execution
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if self.settings.graphiql_enabled and wants_graphiql(request):
            return graphiql_page()
        media_type = negotiate_media_type(request.headers.get("accept"))
        if media_type is None:
            return Response(
                error_body("Accept 'application/graphql-response+json'.", "NOT_ACCEPTABLE"),
                status_code=406,
                media_type=JSON,
            )
        try:
            params = await read_params(request, self.settings)
            consistency = read_consistency(request)
            viewer = self.tokens.viewer(request.headers.get("authorization"))
        except RequestError as error:
            return Response(
                error_body(error.message, error.code, **error.extensions),
                status_code=error.status,
                headers=error.headers,
                media_type=media_type,
            )
        except DomainError as error:
            return Response(
                error_body(error.message, "UNAUTHENTICATED"),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                media_type=media_type,
            )
        caller = Caller(
            viewer,
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
            consistency,
        )
        try:
            if isinstance(params, list):
                results = [
                    await self.run(request.method, one, caller, media_type) for one in params
                ]
                status, body = 200, b"[" + b",".join(result for _, result in results) + b"]"
            else:
                status, body = await self.run(request.method, params, caller, media_type)
        except Exception as error:
            if is_unavailable(error):
                return self.unavailable(error, media_type)
            logger.exception("request failed")
            body = error_body(
                "Internal server error.", "INTERNAL_SERVER_ERROR", requestId=request_id.get()
            )
            return Response(body, status_code=500, media_type=media_type)
        headers = {"Allow": "POST"} if status == 405 else {}
        if consistency.written is not None:
            headers[CONSISTENCY_HEADER] = encode_token(consistency.written)
        return Response(body, status_code=status, headers=headers, media_type=media_type)

    def unavailable(self, error: BaseException, media_type: str) -> Response:
        """The answer to a request the database could not serve: typed and
        retryable; 503 with Retry-After in `application/graphql-response+json`,
        200 in `application/json` (where the GraphQL-over-HTTP specification
        has every well-formed request answered 200). Logged once per outage."""
        health: DatabaseHealth = self.state["health"]
        health.failed(error)
        body = error_body(UNAVAILABLE_MESSAGE, "SERVICE_UNAVAILABLE", retryAfter=RETRY_AFTER)
        if media_type != GRAPHQL_RESPONSE:
            return Response(body, status_code=200, media_type=media_type)
        return Response(
            body,
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER)},
            media_type=media_type,
        )

    async def run(
        self, method: str, params: GraphQLParams, caller: Caller, media_type: str
    ) -> tuple[int, bytes]:
        """Prepares and executes one operation; the status and the encoded result."""
        request_status = 400 if media_type == GRAPHQL_RESPONSE else 200
        try:
            source = self.persisted.resolve(params.query, params.extensions)
        except GraphQLError as refused:
            # Apollo clients expect 200 for a hash they must send again with its text.
            not_found = (refused.extensions or {}).get("code") == "PERSISTED_QUERY_NOT_FOUND"
            status = 200 if not_found else request_status
            return status, self.encode(ExecutionResult(None, [refused]))
        prepared = self.documents.get(source)
        if prepared.errors:
            return request_status, self.encode(ExecutionResult(None, list(prepared.errors)))
        operation = prepared.operation_type(params.operation_name)
        if operation is None:
            error = GraphQLError(
                f"Unknown operation named '{params.operation_name}'."
                if params.operation_name
                else "Name the operation to run ('operationName')."
            )
            return request_status, self.encode(ExecutionResult(None, [error]))
        if operation is OperationType.SUBSCRIPTION:
            error = GraphQLError(
                "Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql."
            )
            return request_status, self.encode(ExecutionResult(None, [error]))
        if method == "GET" and operation is not OperationType.QUERY:
            error = GraphQLError("Only queries may be sent with GET; use POST.")
            return 405, self.encode(ExecutionResult(None, [error]))
        assert prepared.document is not None
        bad_text = variables_nul_errors(params.variables)
        if bad_text:
            return request_status, self.encode(ExecutionResult(None, bad_text))
        if prepared.variable_sized:
            costly = variable_cost_errors(
                prepared.document, params.variables or {}, self.settings.max_query_cost
            )
            if costly:
                return request_status, self.encode(ExecutionResult(None, costly))
        db: Database = self.state["db"]
        router: ReadRouter = self.state["router"]
        if operation is not OperationType.QUERY:
            # After a write, nested fields read the primary so the payload shows it.
            context = self.context(caller, db.write)
            status, body = await self.execute(
                params, prepared.document, context, request_status, writes=True
            )
            position = await router.commit_position()
            if position is None:
                return status, body
            caller.consistency.written = position
            # The queries after it in a batch read their request's own write.
            caller.consistency.seen = max(caller.consistency.seen or 0, position)
            return status, with_extension(body, "consistencyToken", encode_token(position))
        # A query's statements all run on one connection (see RequestConnection),
        # of the replica unless db/replica.py says otherwise.
        connection, route = await router.reader(caller.consistency.seen)
        READ_ROUTES[route].inc()
        try:
            return await self.query(
                source, prepared.document, params, caller, connection, request_status
            )
        except Exception as error:
            if route.target != "replica" or not is_unavailable(error):
                raise
            # The replica went away under the query (no side effects): the primary answers.
            router.failed(error)
            READ_ROUTES[Route.PRIMARY_REPLICA_DOWN].inc()
            connection = RequestConnection(db.write)
            return await self.query(
                source, prepared.document, params, caller, connection, request_status
            )

    async def query(
        self,
        source: str,
        document: DocumentNode,
        params: GraphQLParams,
        caller: Caller,
        connection: RequestConnection,
        request_status: int,
    ) -> tuple[int, bytes]:
        """Runs a query on `connection` (planned when it can), which it releases."""
        context = self.context(caller, connection)
        try:
            if self.planned is not None:
                data = await self.planned.execute(
                    source,
                    document,
                    params.operation_name,
                    params.variables,
                    context,
                    context.loaders.batching,
                )
                if data is not None:
                    return 200, orjson.dumps({"data": data})
                # A fresh context, loaders cold: with what a plan that gave up had
                # loaded cached, graphql-core's resolvers would finish in another
                # order and report other errors once one nulls the data.
                context = self.context(caller, connection)
            return await self.execute(params, document, context, request_status)
        finally:
            await connection.release()

    def context(self, caller: Caller, reader: Executor) -> Context:
        return Context(
            db=self.state["db"],
            viewer=caller.viewer,
            request_id=request_id.get(),
            loaders=Loaders(reader),
            client_ip=caller.address,
            settings=self.settings,
            user_agent=caller.user_agent,
        )

    async def execute(
        self,
        params: GraphQLParams,
        document: DocumentNode,
        context: Context,
        request_status: int,
        *,
        writes: bool = False,
    ) -> tuple[int, bytes]:
        """Runs the operation through graphql-core's standard execution.

        A database that is away fails the whole request (`DatabaseUnavailable`),
        so that the client retries it, unless a mutation already completed a
        field: then the client must see what was written."""
        try:
            result = execute(
                self.graphql_schema,
                document,
                context_value=context,
                variable_values=params.variables,
                operation_name=params.operation_name,
                executor_class=self.execution_context_class,
                # As in validation: without introspection, hints would reveal the schema.
                hide_suggestions=not self.settings.introspection_enabled,
            )
            if isawaitable(result):
                result = await result
        finally:
            context.loaders.release()
        assert isinstance(result, ExecutionResult)
        unavailable = next(
            (e.original_error for e in result.errors or () if is_unavailable(e.original_error)),
            None,
        )
        if unavailable is not None and not (writes and _some_field_completed(result)):
            raise DatabaseUnavailable from unavailable
        # Variables that cannot be coerced stop the request before execution.
        executed = result.data is not None or _executed(result)
        return (200 if executed else request_status), self.encode(result)

    def encode(self, result: ExecutionResult) -> bytes:
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [self.format_error(error) for error in result.errors]
        if result.data is not None or result.errors is None or _executed(result):
            body["data"] = result.data
        return orjson.dumps(body)

    def format_error(self, error: GraphQLError) -> GraphQLFormattedError:
        """The error as the client sees it; unexpected failures are masked and logged."""
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return error.formatted
        if is_unavailable(original):
            self.state["health"].failed(original)
            return GraphQLError(
                UNAVAILABLE_MESSAGE,
                nodes=error.nodes,
                path=error.path,
                extensions={"code": "SERVICE_UNAVAILABLE", "retryAfter": RETRY_AFTER},
            ).formatted
        if isinstance(original, DomainError):
            extensions: dict[str, Any] = {"code": original.kind.name}
            if original.field:  # the argument at fault, as a ValidationError names it
                extensions["field"] = original.field
            typed = GraphQLError(
                original.message, nodes=error.nodes, path=error.path, extensions=extensions
            )
            return typed.formatted
        rid = request_id.get()
        logger.opt(exception=original).error("unexpected error at {}: {}", error.path, original)
        masked = GraphQLError(
            "Internal server error.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": rid},
        )
        return masked.formatted


class DatabaseUnavailable(Exception):
    """The operation met a database that is away; its cause says how."""


def _some_field_completed(result: ExecutionResult) -> bool:
    return any(value is not None for value in (result.data or {}).values())


def _executed(result: ExecutionResult) -> bool:
    """Whether execution started: errors raised by resolvers carry a path."""
    return any(error.path is not None for error in result.errors or ())
