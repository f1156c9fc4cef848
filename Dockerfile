# syntax=docker/dockerfile:1
#
# berth's container image: the static (musl) binary on Alpine, which brings a shell (GitLab pipes
# a job's script into one) and the CA certificate bundle (/etc/ssl/certs/ca-certificates.crt).
#
#   docker build -t berth .                          builds berth from this source (BuildKit)
#   docker run --rm --env-file deploy.env berth       the job: reads BERTH_* from the environment
#   docker run --rm berth berth --help                berth's flags and subcommands
#   docker run --rm berth sh -c 'berth && ...'        any other command
#
# The image has no entrypoint and berth as its command. So `docker run IMAGE` runs the job, and
# a GitLab job can use the image as it is, as GitLab starts its own shell in the job's image
# (templates/berth.yml sets `entrypoint: [""]` all the same, which keeps working should the
# image ever get one). It runs as root, which GitLab's and GitHub's job containers expect for
# writing into the mounted workspace.
#
# The release workflow builds linux/amd64 and linux/arm64 from the musl binaries it has built
# already (--build-arg BERTH_BINARY=prebuilt, with dist/linux/<arch>/berth in the context), so
# nothing runs emulated. BuildKit skips the stage that is not used.

ARG RUST_VERSION=1.95
ARG ALPINE_VERSION=3.23
ARG BERTH_BINARY=source

# From source: rust:alpine targets musl and links statically.
FROM rust:${RUST_VERSION}-alpine${ALPINE_VERSION} AS binary-source
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/berth /berth

# Prebuilt by the release workflow: dist/linux/amd64/berth, dist/linux/arm64/berth.
FROM scratch AS binary-prebuilt
ARG TARGETARCH
COPY dist/linux/${TARGETARCH}/berth /berth

# One of the two stages above (hadolint takes the stage for an image without a tag).
# hadolint ignore=DL3006
FROM binary-${BERTH_BINARY} AS binary

FROM alpine:${ALPINE_VERSION}
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.description="Install an app on mittwald or create it on Cloud Foundry from one CI step, and wait until it is ready" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=binary --chmod=0755 /berth /usr/local/bin/berth
# No ENTRYPOINT: the command is berth unless another is given, and GitLab's runner can start its
# shell in the image as it is.
CMD ["berth"]
