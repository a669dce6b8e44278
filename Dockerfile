# The manager image: one static binary that runs the controllers, and, as `manager fetch-source`,
# the init container that unpacks source bundles in build pods.
# The project's own scripts assemble the same image without a Docker daemon (hack/mkimage).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/fleetflow/flow-build/internal/version.Version=${VERSION}" \
    -o /out/manager ./cmd/manager

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
