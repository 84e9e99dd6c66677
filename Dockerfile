# One image for the flows and the Prefect worker: the project with every package pinned by
# requirements/constraints.txt, torch's CUDA build from PyPI, run as a non-root user.
#   docker build --build-arg GIT_REVISION="$(git rev-parse HEAD)" -t llmops:"$(git rev-parse --short HEAD)" .
# infra/production/README.md has the rest (compose, Kubernetes).
FROM python:3.11.11-slim-bookworm

ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.title="llmops" \
      org.opencontainers.image.revision="${GIT_REVISION}"

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LLMOPS_GIT_REVISION="${GIT_REVISION}" \
    HF_HUB_OFFLINE=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin llmops
WORKDIR /opt/llmops

# torch first and alone, as the Makefile does: on Linux x86_64, PyPI's torch==2.13.0 is the CUDA
# build (its CUDA libraries come as nvidia-* wheels); the constraints pin the rest.
COPY requirements/constraints.txt requirements/constraints.txt
RUN pip install --no-cache-dir torch==2.13.0
COPY pyproject.toml README.md ./
COPY llmops llmops
COPY tasks tasks
COPY flows flows
COPY deployments deployments
COPY infra infra
COPY prefect.yaml ./
RUN pip install --no-cache-dir -c requirements/constraints.txt ".[k8s]" \
    && python -c "import llmops, flows, tasks" \
    && mkdir -p /var/lib/llmops && chown 10001:10001 /var/lib/llmops

USER 10001
# checkpoints and model caches: mount a volume (compose) or a PVC (Kubernetes) here
ENV LLMOPS_STATE_DIR=/var/lib/llmops HF_HOME=/var/lib/llmops/hf
VOLUME ["/var/lib/llmops"]
CMD ["prefect", "worker", "start", "--pool", "llmops-gpu"]
