# syntax=docker/dockerfile:1
# Multi-stage build: dependencies are compiled in their own cached layer, the runtime
# image is Debian slim with only the binary, libpq and a non-root user.
#
#   docker build -t hubbridge .
#
# The base images are build arguments so that a mirror (or a local stand-in, on a machine
# without Docker Hub) can be named: --build-arg RUST_IMAGE=... --build-arg RUNTIME_IMAGE=...

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS deps
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
# Build the dependency graph once with placeholder sources; this layer is reused until
# Cargo.toml or Cargo.lock change.
# Every target Cargo.toml names must exist for the manifest to load.
RUN mkdir -p src tests/api benches \
 && echo 'fn main() {}' > src/main.rs \
 && echo '' > src/lib.rs \
 && echo '' > tests/api/main.rs \
 && echo 'fn main() {}' > benches/scim.rs \
 && echo 'fn main() {}' > benches/pacing.rs \
 && echo 'fn main() {}' > benches/hostile.rs \
 && cargo build --release --locked --bin hubbridge \
 && rm -rf src tests benches

FROM deps AS build
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin hubbridge

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/hubbridge --create-home hubbridge \
 && mkdir -p /var/lib/hubbridge/data && chown hubbridge /var/lib/hubbridge/data
COPY --from=build /app/target/release/hubbridge /usr/local/bin/hubbridge
USER hubbridge
WORKDIR /var/lib/hubbridge
ENV HUBBRIDGE__SERVER__HOST=0.0.0.0 \
    HUBBRIDGE__SERVER__PORT=8080 \
    HUBBRIDGE__DATABASE__URL=/var/lib/hubbridge/data/hubbridge.db \
    HUBBRIDGE__LOG__FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/hubbridge/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["hubbridge"]
CMD ["serve"]
