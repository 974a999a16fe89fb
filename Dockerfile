# syntax=docker/dockerfile:1
# One image for all six Chirp services; docker-compose.yml picks the service with
# `command: python -m services.<name>`.
#
#   docker build -t chirp:latest .
#   docker run --rm chirp:latest python -m services.tweets

# --- build: resolve the locked dependencies into /app/.venv -------------------------------
FROM python:3.11-slim AS build

# Bytecode is compiled at build time (the runtime filesystem is read-only to the app user);
# copy mode because the uv cache mount and /app are on different filesystems; never let uv
# download another interpreter: the venv must use this image's /usr/local/bin/python3.11.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir uv==0.13.8

WORKDIR /app
# The lock files alone first: this layer is rebuilt only when dependencies change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# --- runtime: the venv and the code, no build tools ---------------------------------------
FROM python:3.11-slim

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed numeric uid/gid so orchestrators can verify runAsNonRoot and so file secrets can
# be chowned to it on the host. /var/lib/chirp is created owned by that user: a named volume
# mounted there (the search index) starts with this ownership.
RUN groupadd --system --gid 10001 chirp \
 && useradd --system --uid 10001 --gid chirp --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin chirp \
 && install -d -o chirp -g chirp /var/lib/chirp /var/lib/chirp/search

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY gen/ gen/
COPY services/ services/
RUN python -m compileall -q gen services

USER 10001:10001

# gRPC 50051..50056 and Prometheus /metrics 9101..9106, one pair per service.
EXPOSE 50051-50056 9101-9106

CMD ["python", "-m", "services.users"]
