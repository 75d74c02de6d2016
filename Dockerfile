# accounts-gql: slim, non-root, with a health check.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 PORT=8000 APP_ENV=production LOG_DIR=/app/logs
WORKDIR /app
# Dependencies first, so that code changes reuse the cached layer.
# Exactly the versions CI tested (constraints.txt, written by scripts/lock).
COPY pyproject.toml README.md constraints.txt ./
RUN mkdir accounts_gql && touch accounts_gql/__init__.py \
    && pip install -c constraints.txt . && pip uninstall -y accounts-gql
# Installed in place: the migrations in /app/sql stay beside the package.
COPY accounts_gql ./accounts_gql
COPY sql ./sql
COPY schema.graphql ./
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app accounts \
    && mkdir -p logs && chown accounts logs
USER accounts
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"
CMD ["accounts-gql", "serve"]
