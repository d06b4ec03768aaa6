package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

// sendSamples sends a batch and waits for its ack.
func sendSamples(t *testing.T, ws *websocket.Conn, caseID int64, monitor string) {
	t.Helper()
	batch := relay.NewJobID()
	send(t, ws, &relay.Message{Type: relay.TypeSamples, Samples: &relay.Samples{Batch: batch, CaseID: caseID,
		Samples: []vpndiag.KeepaliveSample{{Monitor: monitor, Time: time.Now(), OK: true, RTT: time.Millisecond}}}})
	for {
		m := recv(t, ws)
		if m.Type == relay.TypeAck && m.Ack.Batch == batch {
			return
		}
	}
}

// startMonitor has the hub start monitor name for caseID on relayName,
// whose raw link ws answers the start job ok (the test reads the job itself,
// the hub's Probe waiting in a goroutine).
func (e *hubEnv) startMonitor(ws *websocket.Conn, relayName string, caseID int64, name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.hub.Probe(ctx, &vpndiag.ProbeRequest{CaseID: caseID, Relay: relayName, Kind: vpndiag.ProbeKeepalive, Target: "10.0.0.1",
			Params: map[string]string{relay.MonitorParam: "start", relay.MonitorNameParam: name}})
		done <- err
	}()
	job := recv(e.t, ws)
	send(e.t, ws, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: job.Job.ID, Outcome: vpndiag.OutcomeOK, Summary: "started"}})
	if a := recv(e.t, ws); a.Type != relay.TypeAck {
		e.t.Fatalf("hub answered %+v", a)
	}
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
}

func (e *hubEnv) samples(caseID int64) int {
	e.t.Helper()
	ss, err := e.probes.FindKeepaliveSamples(context.Background(), caseID)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ss)
}

// A relay's samples are stored only for a monitor the hub started on that
// relay, and only into that monitor's case: a relay cannot write samples
// into another customer's case (one without a site) nor into a case of its
// own site it was never asked to monitor.
func TestSamplesOnlyForMonitorsTheHubStarted(t *testing.T) {
	e := newHubEnv(t)
	ws := e.dial(e.enrol("hq-1", 0))
	other := e.newCase()
	sendSamples(t, ws, other, "ka")
	sendSamples(t, ws, e.cases[0], "ka")
	if n, m := e.samples(other), e.samples(e.cases[0]); n != 0 || m != 0 {
		t.Fatalf("samples without a monitor stored: %d in another customer's case, %d in the site's case", n, m)
	}

	// The hub starts monitor "ka" for case 0.
	e.startMonitor(ws, "hq-1", e.cases[0], "ka")
	sendSamples(t, ws, e.cases[0], "ka")
	sendSamples(t, ws, other, "ka")      // the right monitor, another case
	sendSamples(t, ws, e.cases[0], "kb") // a monitor never started
	if n, m := e.samples(e.cases[0]), e.samples(other); n != 1 || m != 0 {
		t.Fatalf("stored %d samples in the monitor's case (want 1), %d in another case (want 0)", n, m)
	}
}

// A monitor the hub started is stopped by the hub when its lifetime is
// over, and a relay that comes with monitors the hub does not know is told
// to stop them.
func TestMonitorsExpire(t *testing.T) {
	e := newHubEnv(t, func(h *relay.Hub) { h.MonitorLifetime = 300 * time.Millisecond })
	token := e.enrol("hq-1", 0)
	ws := e.dial(token, "left-over")
	stop := recv(t, ws)
	if stop.Type != relay.TypeJob || stop.Job.Params[relay.MonitorParam] != "stop" || stop.Job.Params[relay.MonitorNameParam] != "left-over" {
		t.Fatalf("hub sent %+v, want a stop of the unknown monitor", stop)
	}
	send(t, ws, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: stop.Job.ID, Outcome: vpndiag.OutcomeOK}})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		_, _ = e.hub.Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.cases[0], Relay: "hq-1", Kind: vpndiag.ProbeKeepalive, Target: "10.0.0.1",
			Params: map[string]string{relay.MonitorParam: "start", relay.MonitorNameParam: "ka"}})
	}()
	var start *relay.Message
	for start == nil {
		if m := recv(t, ws); m.Type == relay.TypeJob {
			start = m
		}
	}
	t0 := time.Now()
	send(t, ws, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: start.Job.ID, Outcome: vpndiag.OutcomeOK}})
	for {
		m := recv(t, ws)
		if m.Type == relay.TypeJob && m.Job.Params[relay.MonitorParam] == "stop" && m.Job.Params[relay.MonitorNameParam] == "ka" {
			t.Logf("monitor stopped by the hub %s after it started (lifetime 300 ms)", time.Since(t0).Round(time.Millisecond))
			return
		}
		if time.Since(t0) > 3*time.Second {
			t.Fatal("the hub did not stop the expired monitor")
		}
	}
}

// A monitor's duration parameter is read once, the same way by the hub and
// the relay.
func TestMonitorLifetime(t *testing.T) {
	for _, tt := range []struct {
		param string
		want  time.Duration
		err   bool
	}{
		{"", relay.DefaultMonitorLifetime, false},
		{"8h", 8 * time.Hour, false},
		{"1m", time.Minute, false},
		{"168h", relay.MaxMonitorLifetime, false},
		{"30s", 0, true},
		{"169h", 0, true},
		{"8", 0, true},
		{"a week", 0, true},
	} {
		t.Run(tt.param, func(t *testing.T) {
			req := &vpndiag.ProbeRequest{Kind: vpndiag.ProbeKeepalive, Params: map[string]string{relay.MonitorParam: "start"}}
			if tt.param != "" {
				req.Params[relay.MonitorDurationParam] = tt.param
			}
			d, err := relay.MonitorLifetime(req)
			if tt.err {
				if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), "monitor duration must be") {
					t.Fatalf("MonitorLifetime = %s, %v; want an EINVALID error", d, err)
				}
				return
			}
			if err != nil || d != tt.want {
				t.Fatalf("MonitorLifetime = %s, %v; want %s", d, err, tt.want)
			}
		})
	}
}
