# Builds the gatehouse binary and runs it from a minimal image (no shell:
# the compose health check runs `gatehouse healthcheck`). The build
# arguments stamp `gatehouse version`; make image passes them from git.
FROM golang:1.26 AS build
ARG VERSION=devel
ARG COMMIT=
ARG BUILD_DATE=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags="-s -w \
      -X github.com/gatehouse-dev/gatehouse/internal/version.version=${VERSION} \
      -X github.com/gatehouse-dev/gatehouse/internal/version.commit=${COMMIT} \
      -X github.com/gatehouse-dev/gatehouse/internal/version.date=${BUILD_DATE}" \
    -o /out/gatehouse ./cmd/gatehouse
# The edge's state directory, owned by the user the image runs as (a
# volume mounted on /var/lib/gatehouse starts with its ownership).
RUN mkdir -m 0700 /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/state /var/lib/gatehouse
USER nonroot:nonroot
# Inside a container the listeners must face the container's network, not
# its loopback; publish the ports to choose who reaches them. An
# environment variable wins over a --config file: change these with -e
# or a flag.
ENV GATEHOUSE_API_ADDR=0.0.0.0:8080 \
    GATEHOUSE_EDGE_ADDR=0.0.0.0:8000 \
    GATEHOUSE_LOG_FORMAT=json
EXPOSE 8080 8000
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
