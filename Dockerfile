# syntax=docker/dockerfile:1
#
# sessiond and sessionctl as static binaries on a distroless base image: no
# shell, no package manager, a non-root user.
#
#   docker build -t sessiondb/sessiond:dev .
#   docker compose up -d                      (docker-compose.yml builds it too)
#   docker run --rm sessiondb/sessiond:dev -h
#
# The image runs sessiond on 0.0.0.0:8080; sessionctl is next to it:
#   docker compose exec sessiond sessionctl stats

# GO_VERSION is the Go release of the build stage: go.mod's go line.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# VERSION is stamped into the binaries (main.version).
ARG VERSION=dev
# CGO_ENABLED=0: static binaries that run on the distroless "static" base.
# go build fetches only the modules the binaries need (not the test ones).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" \
      -o /out/ ./cmd/sessiond ./cmd/sessionctl

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="sessiondb" \
      org.opencontainers.image.description="sessiond, the HTTP session service on Redis, and sessionctl"
COPY --from=build /out/sessiond /out/sessionctl /usr/local/bin/
# In a container sessiond listens on every interface; it then requires API
# keys (SESSIOND_API_KEYS_FILE).
ENV SESSIOND_ADDR=0.0.0.0:8080
EXPOSE 8080
# The distroless image's nonroot user and group.
USER 65532:65532
# sessiond -healthcheck asks GET /healthz on SESSIOND_ADDR and exits 0 on
# 200: no shell or curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/sessiond", "-healthcheck"]
ENTRYPOINT ["/usr/local/bin/sessiond"]
