"""GraphiQL at /graphql for browsers, with its assets served by the service itself.

The assets come from the npm registry at install time (scripts/bootstrap runs
`npm install` in accounts_gql/api/static), never from a CDN at run time, so the
page works with no internet access and no request leaves the service.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

MODULES = Path(__file__).resolve().parent / "static" / "node_modules"

# The only files served: name in the URL -> (file, media type).
ASSETS: dict[str, tuple[Path, str]] = {
    "react.production.min.js": (
        MODULES / "react" / "umd" / "react.production.min.js",
        "text/javascript",
    ),
    "react-dom.production.min.js": (
        MODULES / "react-dom" / "umd" / "react-dom.production.min.js",
        "text/javascript",
    ),
    "graphiql.min.js": (MODULES / "graphiql" / "graphiql.min.js", "text/javascript"),
    "graphiql.min.css": (MODULES / "graphiql" / "graphiql.min.css", "text/css"),
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>accounts-gql · GraphiQL</title>
  <link rel="stylesheet" href="{base}/assets/graphiql.min.css">
  <style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <!-- Signed-in requests: add {{"Authorization": "Bearer <access token>"}} under Headers. -->
  <script src="{base}/assets/react.production.min.js"></script>
  <script src="{base}/assets/react-dom.production.min.js"></script>
  <script src="{base}/assets/graphiql.min.js"></script>
  <script>
    // Subscriptions go over graphql-transport-ws on the same path; the headers
    // editor's values (Authorization) travel in connection_init.
    const fetcher = GraphiQL.createFetcher({{
      url: "{base}",
      subscriptionUrl:
        (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "{base}",
      headers: {{ Accept: "application/graphql-response+json, application/json" }},
    }});
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher,
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: true,
      }}),
    );
  </script>
</body>
</html>
"""


def wants_graphiql(request: Request) -> bool:
    """A browser opening /graphql: a GET that accepts HTML and carries no query."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


def assets_installed() -> bool:
    return all(path.is_file() for path, _ in ASSETS.values())


def graphiql_page(endpoint: str = "/graphql") -> Response:
    if not assets_installed():
        return PlainTextResponse(
            "GraphiQL's assets are not installed: run scripts/bootstrap (needs npm).",
            status_code=503,
        )
    return HTMLResponse(_PAGE.format(base=endpoint))


async def graphiql_asset(request: Request) -> Response:
    """One of the allow-listed asset files; anything else is a 404."""
    asset = ASSETS.get(request.path_params["name"])
    if asset is None or not asset[0].is_file():
        return PlainTextResponse("Not found", status_code=404)
    path, media_type = asset
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
