//go:build tools

// Package deps pins the project's direct dependencies in go.mod while the
// packages that use them are being written. It is never built.
package deps

import (
	_ "github.com/coder/websocket"
	_ "github.com/looplab/fsm"
	_ "github.com/miekg/dns"
	_ "github.com/prometheus-community/pro-bing"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/slack-go/slack"
	_ "golang.org/x/net/icmp"
	_ "golang.org/x/net/ipv4"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
