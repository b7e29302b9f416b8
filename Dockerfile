# The serving image of one model version, as deploy.yml builds it:
#   cauce package --version v0.2.0          (the model directory, into serving/model/)
#   docker build --build-arg MODEL_VERSION=v0.2.0 --build-arg MODEL_STAGE=prod -t cauce:v0.2.0 .
# The same entry point runs outside Docker: cauce serve --model-dir serving/model
#
# The base image is pinned by digest, so a rebuild starts from the same bytes; Dependabot
# (.github/dependabot.yml) proposes the new digest when the tag moves. By hand:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (the "Digest:" line)
# then replace the digest in both FROM lines (docs/supply-chain.md). This digest was not
# resolved here (no registry reachable): it is the digest public Dockerfiles pin for this tag
# as of 2026-08-24 (python 3.11.16), so expect Dependabot's first pull request to update it.

FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
# Exactly the locked versions of what serving needs: no development tools and not the
# `pipeline` extra (DVC, GTO, ...); cauce itself not editable.
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
ARG MODEL_VERSION
ARG MODEL_STAGE
RUN useradd --create-home --uid 10001 cauce
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY params.yaml ./
# One model version, baked in: the directory `cauce package` fetched for it.
COPY serving/model/ /app/model/
ENV PATH=/app/.venv/bin:$PATH \
    CAUCE_MODEL_STAGE=${MODEL_STAGE}
LABEL org.opencontainers.image.title="cauce model API" \
      org.opencontainers.image.version="${MODEL_VERSION}"
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready').status != 200)"]
CMD ["cauce", "serve", "--model-dir", "/app/model", "--host", "0.0.0.0", "--port", "8000"]
