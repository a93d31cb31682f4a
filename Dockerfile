# erpgate in a container: built the way CI builds it (cargo build --release --locked), run as
# a non-root user in a minimal Debian image. See README, "Deploying".
#
#   docker build --build-arg ERPGATE_COMMIT="$(git rev-parse HEAD)" -t erpgate .

FROM rust:1-bookworm AS build
# Pingora's zlib-ng needs CMake; the distribution's current version is what CI uses too.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG ERPGATE_COMMIT=unknown
ENV ERPGATE_COMMIT=${ERPGATE_COMMIT}
RUN cargo build --release --locked --bin erpgate \
 && strip target/release/erpgate

FROM debian:bookworm-slim
# CA roots for Oracle's certificate; nothing else.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/erpgate --create-home --shell /usr/sbin/nologin erpgate
COPY --from=build /src/target/release/erpgate /usr/local/bin/erpgate
USER 10001:10001
WORKDIR /var/lib/erpgate
# glibc maps allocations of 4 MiB and more on their own, so the argon2 work area (19 MiB) the
# gateway frees when idle goes back to the system every time (see deploy/erpgate.service; the
# gateway sets it itself too, with its other allocator settings, src/allocator.rs).
ENV MALLOC_MMAP_THRESHOLD_=4194304
ENV MALLOC_TRIM_THRESHOLD_=8388608
# Relay, admin API (keep it on a management network), metrics.
EXPOSE 8080 9443 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["erpgate", "health", "--addr", "127.0.0.1:9443"]
ENTRYPOINT ["erpgate"]
CMD ["serve", "--config", "/etc/erpgate/erpgate.toml"]
