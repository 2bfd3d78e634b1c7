# syntax=docker/dockerfile:1
# One image per service, from this one file. The build context is the repository root (the uv
# workspace); SERVICE names the workspace package and its console script:
#   docker build --build-arg SERVICE=ws-gateway -t csms/ws-gateway .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: the workspace's locked versions into /opt/venv ----------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
# Before ARG SERVICE: one layer for every service's build.
RUN pip install --no-cache-dir --disable-pip-version-check uv==${UV_VERSION}
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<services/* package> is required"; exit 1; }
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
# Third-party dependencies from the lock alone: this layer survives source edits.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package ${SERVICE}
# Then the workspace packages, installed as wheels so the runtime stage needs no /src.
COPY shared shared
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package ${SERVICE}
# The image's default command, whichever service it holds.
RUN ln -s ${SERVICE} /opt/venv/bin/csms-service

# -- runtime: slim, non-root, read-only friendly --------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
# The commit built, shown by csms_build_info:
#   docker build --build-arg CSMS_BUILD_COMMIT=$(git rev-parse HEAD) ...
ARG CSMS_BUILD_COMMIT=unknown
RUN groupadd --system --gid 10001 csms \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin csms
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CSMS_SERVICE=${SERVICE} \
    CSMS_BUILD_COMMIT=${CSMS_BUILD_COMMIT}
USER 10001:10001
# Ports are the service's (compose `expose`/`ports`, the k8s containerPorts): 9000 and 8084 for
# ws-gateway, 8081 station-registry, 8082 session-service, 8080 and 8083 command-api, 8086
# message-log, 8087 load-manager, 8090 and 8088 roaming. The probe port is plain HTTP even
# when the gateway's 9000 speaks TLS, and never published.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; e = os.environ; port = {'ws-gateway': lambda: e.get('GATEWAY_INTERNAL_PORT', '8084'), 'station-registry': lambda: e.get('REGISTRY_INTERNAL_PORT') or e.get('REGISTRY_HTTP_PORT', '8081'), 'session-service': lambda: e.get('SESSION_INTERNAL_PORT') or e.get('SESSION_HTTP_PORT', '8082'), 'command-api': lambda: e.get('API_INTERNAL_PORT', '8083'), 'message-log': lambda: e.get('MESSAGE_LOG_INTERNAL_PORT', '8086'), 'load-manager': lambda: e.get('LOADS_INTERNAL_PORT', '8087'), 'roaming': lambda: e.get('ROAMING_INTERNAL_PORT', '8088')}[e['CSMS_SERVICE']](); r.urlopen('http://127.0.0.1:%s/healthz' % port, timeout=2)"]
STOPSIGNAL SIGTERM
# One file descriptor per charge point (the gateway; harmless elsewhere): lift the soft nofile
# limit to the hard one (container runtimes often start processes at a soft 1024), then exec so
# SIGTERM reaches the service.
ENTRYPOINT ["/bin/sh", "-c", "ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""]
CMD ["csms-service"]
