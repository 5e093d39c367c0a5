# One static binary on a distroless base (the SQLite driver is pure Go: no cgo), run as the
# image's unprivileged user. The default command listens on all interfaces, which catalogd
# refuses without authentication: set CATALOGD_OIDC_ISSUER and CATALOGD_OIDC_AUDIENCE (or
# CATALOGD_API_KEY_FILE), see README "Authentication".
#
# docker build --build-arg VERSION=1.2.3 . sets what `catalogd --version` prints; the VCS
# revision comes from .git when the build context has it.
FROM golang:1.26 AS build
ARG VERSION=""
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /catalogd ./cmd/catalogd && mkdir /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /catalogd /catalogd
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
WORKDIR /data
# SIGTERM drains requests in flight (--shutdown-timeout, 20s): give the container longer
# than that to stop (compose: stop_grace_period; Kubernetes: terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/catalogd"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
