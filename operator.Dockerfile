# syntax=docker/dockerfile:1
# The kubetune operator image. Build from the repository root:
#   docker build -f operator.Dockerfile -t kubetune/operator:0.1.0 .
# (operator.Dockerfile.dockerignore keeps the build context small.)
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# Build the kubetune wheel (pure Python) in a throw-away stage, so the run-time image
# carries neither the sources nor the build backend.
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY optimizer/ optimizer/
COPY operator/ operator/
# The CLI and analytics are small pure-Python packages of the same wheel; their optional
# pandas and matplotlib are not installed here.
COPY analytics/ analytics/
COPY cli/ cli/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheel and its dependencies (numpy, scipy, kopf, kubernetes, pydantic, google-re2,
# prometheus-client: all ship manylinux wheels, so no compiler is needed).
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir /wheels/kubetune-*.whl

# A numeric non-root user, so the pod's `runAsNonRoot: true` can verify it without
# reading /etc/passwd. The chart runs the root filesystem read-only with /tmp in memory.
RUN useradd --no-log-init --no-create-home --home-dir /tmp --shell /usr/sbin/nologin \
        --uid 10001 --user-group kubetune
USER 10001:10001
WORKDIR /tmp

# 8080: /healthz (liveness); 9090: Prometheus /metrics.
EXPOSE 8080 9090
ENTRYPOINT ["kubetune-operator"]
