# syntax=docker/dockerfile:1
# The kubetune operator image. Build from the repository root:
#   docker build -f operator.Dockerfile -t kubetune/operator:0.1.0 .
# (operator.Dockerfile.dockerignore keeps the build context small.)
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# Build the kubetune wheel (pure Python) in a throw-away stage, so the run-time image
# carries neither the sources nor the build backend.
FROM ${PYTHON_IMAGE} AS wheel
# `python -m pip` run in /src would put /src on sys.path, where operator/ shadows the
# standard library's `operator` (pip then fails at start-up); safe-path mode (3.11+)
# keeps the current directory off sys.path, as the Makefile does.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONSAFEPATH=1
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
# A numeric non-root user, so the pod's `runAsNonRoot: true` can verify it without
# reading /etc/passwd. The chart runs the root filesystem read-only with /tmp in memory.
RUN useradd --no-log-init --no-create-home --home-dir /tmp --shell /usr/sbin/nologin \
        --uid 10001 --user-group kubetune
# The dependencies (numpy, scipy, kopf, kubernetes, pydantic, google-re2, prometheus-client:
# all ship manylinux wheels, so no compiler is needed) first, at the versions the tests
# passed with (constraints.txt), in a layer that only a change to pyproject.toml or
# constraints.txt rebuilds: a change to the sources then rebuilds the image in seconds.
COPY pyproject.toml constraints.txt /tmp/
RUN python -c 'import tomllib; print(*tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > /tmp/requirements.txt \
    && python -m pip install --no-cache-dir -c /tmp/constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt /tmp/constraints.txt /tmp/pyproject.toml
# Then the wheel. COPY, not a bind mount from the stage: buildah's layer cache (podman 4)
# does not notice when a bind-mounted stage changes, and would keep the old wheel.
COPY --from=wheel /wheels/ /wheels/
RUN python -m pip install --no-cache-dir --no-deps /wheels/kubetune-*.whl

USER 10001:10001
WORKDIR /tmp

# 8080: /healthz (liveness); 9090: Prometheus /metrics.
EXPOSE 8080 9090
ENTRYPOINT ["kubetune-operator"]
