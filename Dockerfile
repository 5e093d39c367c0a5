# One static binary on a distroless base (the SQLite driver is pure Go: no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /catalogd ./cmd/catalogd

FROM gcr.io/distroless/static-debian12
COPY --from=build /catalogd /catalogd
WORKDIR /data
ENTRYPOINT ["/catalogd"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
