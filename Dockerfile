# accounts-gql: slim, non-root, with a health check (PRODUCT §7).
# Base images are pinned to a patch release; the Python one is the release
# constraints.txt was resolved with (its second line).

# GraphiQL's browser assets, from the npm registry at the versions of
# package-lock.json: only the four files the service serves (api/ide.py) go on.
FROM node:20.20.2-bookworm-slim AS graphiql
WORKDIR /assets
COPY accounts_gql/api/static/package.json accounts_gql/api/static/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
    && mkdir -p /out/react/umd /out/react-dom/umd /out/graphiql \
    && cp node_modules/react/umd/react.production.min.js /out/react/umd/ \
    && cp node_modules/react-dom/umd/react-dom.production.min.js /out/react-dom/umd/ \
    && cp node_modules/graphiql/graphiql.min.js node_modules/graphiql/graphiql.min.css /out/graphiql/

FROM python:3.11.7-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 PORT=8000 APP_ENV=production LOG_DIR=/app/logs
WORKDIR /app
# Dependencies first, so that code changes reuse the cached layer. Exactly the
# versions CI tested (constraints.txt, written by scripts/lock); no extras, so
# the embedded PostgreSQL (extra `embedded`) stays out: the image always has a
# DATABASE_URL.
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir accounts_gql && touch accounts_gql/__init__.py \
    && pip install -c constraints.txt . && pip uninstall -y accounts-gql
# Installed in place: the migrations in /app/sql stay beside the package.
COPY accounts_gql ./accounts_gql
COPY sql ./sql
COPY schema.graphql asyncapi.yaml ./
COPY --from=graphiql /out/ ./accounts_gql/api/static/node_modules/
RUN pip install --no-deps -e . \
    && groupadd --system --gid 10001 accounts \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home accounts \
    && mkdir -p logs && chown 10001:10001 logs
# Numeric, so that a runtime refusing root (runAsNonRoot) can check it.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
CMD ["accounts-gql", "serve"]
