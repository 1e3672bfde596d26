# kubetune's MXNet trainer, CPU image: the same train.py and entrypoint as the GPU image
# (Dockerfile), on Debian's Python with the CPU build of MXNet (requirements.txt). For
# laptops, CI and clusters without GPUs. Build from trainer-image/:
#   docker build -f cpu.Dockerfile -t kubetune/mxnet-trainer:0.1.0-cpu .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libmxnet.so links libgomp and (through its bundled libgfortran) libquadmath from the system.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libgomp1=12.* \
        libquadmath0=12.* \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/kubetune
COPY requirements-common.txt requirements.txt ./
RUN python3 -m pip install --no-cache-dir -r requirements.txt

# A numeric non-root user, so a pod's `runAsNonRoot: true` can verify it.
RUN useradd --no-log-init --create-home --uid 1000 --user-group trainer \
    && mkdir -p /opt/ml/input/data/training /opt/ml/input/config
COPY train.py prepare_cifar10.py ./
USER 1000:1000

# Hyperparameters are appended as --name=value arguments (a pod's `args`); see README.md.
ENTRYPOINT ["python3", "/opt/kubetune/train.py"]
