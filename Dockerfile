# Build a static binary, then ship it alone on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/atrium ./cmd/atrium \
	&& mkdir -p /out/data

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/atrium /atrium
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV ATRIUM_ADDR=0.0.0.0:8080 \
	ATRIUM_DATA_DIR=/data
VOLUME /data
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/atrium"]
CMD ["serve"]
