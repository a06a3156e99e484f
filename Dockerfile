# syntax=docker/dockerfile:1.7
# Gantry's container images, one target per service, built from the workspace root:
#
#   docker build --target receiver        -t gantry-receiver .
#   docker build --target reconciler      -t gantry-reconciler .
#   docker build --target api             -t gantry-api .
#   docker build --target reconciler-helm -t gantry-reconciler:helm \
#       --build-arg HELM_VERSION=v3.19.0 --build-arg HELM_SHA256=<sha256 of helm-v3.19.0-linux-amd64.tar.gz> .
#
# The Rust toolchain image builds; a slim Debian holding only the binary and ca-certificates
# runs it, as the unprivileged uid/gid 65532 (distroless' "nonroot"), which the Helm chart's
# runAsUser matches. The reconciler needs no git: it fetches with gix, in pure Rust; and no helm:
# it renders charts with its own engine. `reconciler-helm` adds a `helm` binary only for
# environments that ask for it with `helm: {engine: external}` in `.gantry.yaml`.

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .

FROM build AS build-receiver
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p gantry-receiver \
    && install -D -m 0755 target/release/gantry-receiver /out/gantry-receiver

FROM build AS build-reconciler
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p gantry-reconciler \
    && install -D -m 0755 target/release/gantry-reconciler /out/gantry-reconciler

FROM build AS build-api
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p gantry-api \
    && install -D -m 0755 target/release/gantry-api /out/gantry-api

FROM ${RUNTIME_IMAGE} AS runtime
# Unpinned on purpose: bookworm's security updates replace these versions, so a pin would
# break rebuilds instead of making them reproducible; the base image tag is what to pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
USER 65532:65532
WORKDIR /tmp

FROM runtime AS receiver
COPY --from=build-receiver /out/gantry-receiver /usr/local/bin/gantry-receiver
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gantry-receiver"]

FROM runtime AS reconciler
COPY --from=build-reconciler /out/gantry-reconciler /usr/local/bin/gantry-reconciler
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/gantry-reconciler"]

FROM runtime AS api
COPY --from=build-api /out/gantry-api /usr/local/bin/gantry-api
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/gantry-api"]

# helm, downloaded and checked against the sha256 you pass (https://github.com/helm/helm/releases).
FROM ${RUNTIME_IMAGE} AS helm
ARG HELM_VERSION=v3.19.0
ARG HELM_SHA256=""
ARG TARGETARCH=amd64
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN test -n "${HELM_SHA256}" || { echo "set --build-arg HELM_SHA256" >&2; exit 1; } \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && curl -fsSLo /tmp/helm.tgz "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
    && echo "${HELM_SHA256}  /tmp/helm.tgz" | sha256sum -c - \
    && tar -xzf /tmp/helm.tgz -C /tmp "linux-${TARGETARCH}/helm" \
    && install -m 0755 "/tmp/linux-${TARGETARCH}/helm" /usr/local/bin/helm \
    && rm -rf /tmp/helm.tgz "/tmp/linux-${TARGETARCH}" /var/lib/apt/lists/*

FROM reconciler AS reconciler-helm
COPY --from=helm /usr/local/bin/helm /usr/local/bin/helm
# helm keeps its caches under HOME; the chart mounts a writable /tmp.
ENV HOME=/tmp
