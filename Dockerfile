# syntax=docker/dockerfile:1
#
# vpndiag: one static binary (pure Go: modernc.org/sqlite needs no cgo).
#
#   docker build -t vpndiag .
#   docker run --rm -v vpndiag:/var/lib/vpndiag -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN vpndiag serve
#   docker run --rm -v /etc/vpndiag:/etc/vpndiag:ro vpndiag relay --hub https://bot.example:8443 \
#       --token-file /etc/vpndiag/relay.token --policy /etc/vpndiag/policy.yaml
#
# Probes and privileges in a container (the relay, `vpndiag probe`, `vpndiag diagnose`):
# - ping tries unprivileged ICMP (SOCK_DGRAM) first. The kernel allows it only to
#   groups inside net.ipv4.ping_group_range; Docker sets it to "0 2147483647" in a
#   container's network namespace by default, otherwise run with
#   `--sysctl net.ipv4.ping_group_range="0 2147483647"`.
# - traceroute reads ICMP time-exceeded replies on a raw socket and needs CAP_NET_RAW:
#   `--cap-add NET_RAW` (the image runs as a non-root user, so also give the binary
#   the file capability, done below, or run the relay with `--user 0`).
# - dns, tcp and ike probes need no privilege.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/vpndiag/vpndiag.Version=${VERSION}" \
      -o /out/vpndiag ./cmd/vpndiag

# setcap lives in libcap2-bin; the capability travels with the file into the final image.
FROM debian:bookworm-slim AS caps
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/vpndiag /vpndiag
RUN setcap cap_net_raw+ep /vpndiag

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=caps /vpndiag /usr/local/bin/vpndiag
USER nonroot:nonroot
ENV XDG_STATE_HOME=/var/lib
VOLUME ["/var/lib/vpndiag"]
EXPOSE 8080 8443
ENTRYPOINT ["/usr/local/bin/vpndiag"]
CMD ["--help"]
