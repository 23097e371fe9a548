# syntax=docker/dockerfile:1.7
#
# One image with the three Leadflow service binaries in /usr/local/bin:
# leadflow-activity, leadflow-scoring and leadflow-qualification. The image sets no entrypoint,
# so each Deployment (or `docker run`) names the binary it starts.
#
# Build with BuildKit from the repository root:
#   docker build -t leadflow:0.1.0 .
# Start one service:
#   docker run --rm -p 50051:50051 leadflow:0.1.0 /usr/local/bin/leadflow-activity serve
#
# The runtime stage is distroless/cc on Debian 12 rather than scratch with a static musl build.
# The binaries link glibc, libm and libgcc_s dynamically, because the bundled SQLite and the
# ring crypto of rustls are C code built by the builder's gcc. distroless/cc ships exactly
# those libraries and the CA certificates, with no shell or package manager. A musl build
# would need the musl target and a musl C toolchain in the builder, and musl's allocator is
# slow under the multi-threaded Tokio runtime.

# 1.89 is the workspace's rust-version, which no locked dependency exceeds, so it is the
# oldest builder that works. A newer tag builds the same lock file.
ARG RUST_VERSION=1.89

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src

# The whole workspace is copied because cargo reads every member's manifest even when it
# builds only three packages. .dockerignore keeps target/, .git and local data out.
COPY . .

# The release profile keeps line tables (debug = "line-tables-only"), which makes each binary
# about 99 MB. STRIP_DEBUG=true (the default) removes the DWARF sections and keeps the symbol
# table, so a binary is about 19-21 MB and backtraces still name functions, without file and
# line. Build with --build-arg STRIP_DEBUG=false to keep file and line numbers.
ARG STRIP_DEBUG=true

# The cache mounts keep the registry and the build folder between builds, so the binaries are
# copied out of target/ inside the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p leadflow-activity -p leadflow-scoring -p leadflow-qualification \
    && mkdir -p /out \
    && cp target/release/leadflow-activity \
          target/release/leadflow-scoring \
          target/release/leadflow-qualification /out/ \
    && if [ "$STRIP_DEBUG" = "true" ]; then strip --strip-debug /out/leadflow-*; fi

FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="leadflow" \
      org.opencontainers.image.description="Leadflow gRPC services: activity, scoring and qualification" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/ /usr/local/bin/

# 65532 is the nonroot user of the distroless images. Its home, /home/nonroot, is the working
# folder, so the default SQLite URL (sqlite://leadflow-data/<service>.db) is writable under
# `docker run`. Kubernetes runs with a read-only root filesystem and PostgreSQL instead.
USER 65532:65532
WORKDIR /home/nonroot

# activity, scoring, qualification
EXPOSE 50051 50052 50053
