// Package relay is the bot's side of the relays that run probes inside a
// customer's network, and the wire protocol both sides speak.
//
// A relay (package relay/agent, `vpndiag relay`) dials out to the hub over
// one WebSocket (HTTPS, port 443 friendly), authenticated by a bearer relay
// token of which the bot stores only the SHA-256 (NewToken, HashToken). The
// hub pushes jobs (a vpndiag.ProbeRequest), the relay checks each against
// its own local policy (package relay/policy) and answers with a result;
// keep-alive monitors stream samples. Messages are JSON, at most
// MaxMessageSize bytes, decoded strictly with every field bounded (Decode).
//
// The Hub is split by job, one file each:
//
//   - auth.go: the endpoint relays dial (Hub.ServeHTTP): token check,
//     refusals closed and logged rate-limited, upgrade.
//   - conn.go: one live link: hellos, heartbeats both ways, the token
//     re-checked every heartbeat, per-relay rate limits, replacement of an
//     older link of the same relay.
//   - jobs.go: Hub.Probe (vpndiag.Prober): routing by relay name or site ID,
//     hub-chosen random job IDs, results stored once per job and handed to
//     the waiting caller.
//   - monitors.go: keep-alive monitors the hub started; samples accepted
//     only for them and only into their case; monitors expire.
//   - status.go: relay status, revocation, disconnect, shutdown.
//   - operator.go: the operator endpoint and its client (`vpndiag probe
//     --relay`): ad hoc probes through a connected relay.
//
// See README.md in this directory for the transport choice, the failure
// behaviour and the limits.
package relay
