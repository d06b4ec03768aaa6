package probes_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/probes/internal/nstest"
)

// timeline builds samples every step over total, failing whenever down
// says so.
func timeline(start time.Time, step, total time.Duration, down func(t time.Duration) bool) []vpndiag.KeepaliveSample {
	var out []vpndiag.KeepaliveSample
	for at := time.Duration(0); at < total; at += step {
		ok := !down(at)
		s := vpndiag.KeepaliveSample{Monitor: "m", Time: start.Add(at), OK: ok}
		if ok {
			s.RTT = 20 * time.Millisecond
		}
		out = append(out, s)
	}
	return out
}

func TestDetectPeriodicDrops(t *testing.T) {
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	every := func(period, offset, length time.Duration) func(time.Duration) bool {
		return func(at time.Duration) bool {
			return at >= offset && (at-offset)%period < length
		}
	}
	tests := []struct {
		name    string
		total   time.Duration
		down    func(time.Duration) bool
		found   bool
		period  time.Duration
		hourly  bool
		drops   int
		code    string
		maxSkew time.Duration
	}{
		{"IKEv2 hourly drop", 5 * time.Hour, every(time.Hour, 50*time.Minute, 30*time.Second), true, time.Hour, true, 5, kb.CodeIKEv2HourlyDrop, 10 * time.Second},
		{"every 17 minutes", 2 * time.Hour, every(17*time.Minute, 3*time.Minute, 20*time.Second), true, 17 * time.Minute, false, 7, kb.CodePeriodicDrop, 10 * time.Second},
		{"hourly with jitter and a missed drop", 6 * time.Hour, func(at time.Duration) bool {
			for _, d := range []time.Duration{58 * time.Minute, 119 * time.Minute, 181 * time.Minute, 301 * time.Minute, 359 * time.Minute} {
				if at >= d && at < d+40*time.Second {
					return true
				}
			}
			return false
		}, true, 61 * time.Minute, true, 5, kb.CodeIKEv2HourlyDrop, 2 * time.Minute},
		{"never down", time.Hour, func(time.Duration) bool { return false }, false, 0, false, 0, "", 0},
		{"two drops are not a pattern", 2 * time.Hour, every(time.Hour, 30*time.Minute, time.Minute), false, 0, false, 2, "", 0},
		{"irregular drops", 4 * time.Hour, func(at time.Duration) bool {
			for _, d := range []time.Duration{10 * time.Minute, 25 * time.Minute, 90 * time.Minute, 100 * time.Minute, 200 * time.Minute} {
				if at >= d && at < d+30*time.Second {
					return true
				}
			}
			return false
		}, false, 0, false, 5, "", 0},
		{"single lost pings are not drops", 2 * time.Hour, every(10*time.Minute, time.Minute, 5*time.Second), false, 0, false, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples := timeline(start, kb.KeepaliveInterval, tt.total, tt.down)
			ts := probes.Transitions(samples, 2, 1)
			p, found := probes.DetectPeriodicDrops(ts, 2*kb.KeepaliveInterval)
			if found != tt.found || p.Drops != tt.drops {
				t.Fatalf("found %v (%+v), want %v with %d drops", found, p, tt.found, tt.drops)
			}
			if !found {
				return
			}
			if d := p.Period - tt.period; d > tt.maxSkew || d < -tt.maxSkew || p.Hourly != tt.hourly || p.Code != tt.code {
				t.Fatalf("%+v, want period %s hourly %v code %s", p, tt.period, tt.hourly, tt.code)
			}
		})
	}
	t.Run("transitions alternate and start up", func(t *testing.T) {
		samples := timeline(start, kb.KeepaliveInterval, time.Hour, every(20*time.Minute, 10*time.Minute, time.Minute))
		ts := probes.Transitions(samples, 2, 1)
		if len(ts) != 7 || !ts[0].Up || !ts[0].Time.Equal(start) {
			t.Fatalf("%+v", ts)
		}
		for i := 1; i < len(ts); i++ {
			if ts[i].Up == ts[i-1].Up || !ts[i].Time.After(ts[i-1].Time) {
				t.Fatalf("transition %d: %+v", i, ts)
			}
		}
		// The drop at 10:00 is declared at the second failed ping.
		if want := start.Add(10*time.Minute + kb.KeepaliveInterval); !ts[1].Time.Equal(want) {
			t.Errorf("down at %s, want %s", ts[1].Time, want)
		}
	})
}

// memorySink stores samples; while failing is set it refuses them.
type memorySink struct {
	mu      sync.Mutex
	failing bool
	calls   int
	samples []vpndiag.KeepaliveSample
}

func (s *memorySink) AddKeepaliveSamples(_ context.Context, caseID int64, samples []vpndiag.KeepaliveSample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failing {
		return errors.New("database is locked")
	}
	s.samples = append(s.samples, samples...)
	return nil
}

func (s *memorySink) setFailing(v bool) {
	s.mu.Lock()
	s.failing = v
	s.mu.Unlock()
}

func (s *memorySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.samples)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestMonitorLoopback runs a real monitor against 127.0.0.1: sink outage,
// stop, restart from the state file.
func TestMonitorLoopback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalive.json")
	sink := &memorySink{}
	cfg := probes.KeepaliveConfig{Name: "case7-dns", CaseID: 7, Target: "127.0.0.1", Interval: 100 * time.Millisecond, StatePath: path}
	m, err := probes.NewMonitor(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); vpndiag.ErrorCode(err) != vpndiag.ECONFLICT {
		t.Fatalf("second Start: %v", err)
	}
	waitFor(t, "3 samples stored", func() bool { return sink.count() >= 3 })

	sink.setFailing(true)
	waitFor(t, "samples pending", func() bool { return len(m.Status().Pending) >= 3 })
	if st := m.Status(); st.SinkError == "" || !st.Running || st.State != "up" {
		t.Fatalf("status %+v", st)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	before := m.Status()
	if before.Running || len(before.Pending) == 0 || before.Sent != sink.count()+len(before.Pending) {
		t.Fatalf("after stop: sent %d, stored %d, pending %d", before.Sent, sink.count(), len(before.Pending))
	}

	// A new process: load the state, the sink works again.
	sink.setFailing(false)
	m2, err := probes.LoadMonitor(path, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pending samples delivered after the restart", func() bool { return sink.count() >= before.Sent+2 })
	if err := m2.Stop(); err != nil {
		t.Fatal(err)
	}
	after := m2.Status()
	if !after.StartedAt.Equal(before.StartedAt) || after.Sent != sink.count() || len(after.Pending) != 0 || len(after.Transitions) != 1 {
		t.Fatalf("after restart: %+v (stored %d)", after, sink.count())
	}
	seen := map[time.Time]bool{}
	for _, s := range sink.samples {
		if seen[s.Time] || s.Monitor != "case7-dns" || !s.OK || s.RTT <= 0 {
			t.Fatalf("sample %+v duplicated or wrong", s)
		}
		seen[s.Time] = true
	}
	if err := m2.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestMonitorBadInput(t *testing.T) {
	dir := t.TempDir()
	damaged := filepath.Join(dir, "damaged.json")
	os.WriteFile(damaged, []byte(`{"config": {"name": "x", "target": `), 0o600)
	badTarget := filepath.Join(dir, "bad-target.json")
	b, _ := json.Marshal(probes.KeepaliveState{Config: probes.KeepaliveConfig{Name: "x", Target: "not-an-ip"}})
	os.WriteFile(badTarget, b, 0o600)

	for _, tt := range []struct {
		name string
		cfg  probes.KeepaliveConfig
		want string
	}{
		{"no name", probes.KeepaliveConfig{Target: "127.0.0.1"}, "needs a name"},
		{"bad target", probes.KeepaliveConfig{Name: "m", Target: "dns.example"}, "not a valid IP address"},
		{"interval too short", probes.KeepaliveConfig{Name: "m", Target: "127.0.0.1", Interval: time.Millisecond}, "interval must be between"},
		{"timeout over the interval", probes.KeepaliveConfig{Name: "m", Target: "127.0.0.1", Interval: time.Second, Timeout: 2 * time.Second}, "ping timeout must be between"},
		{"down_after zero after default", probes.KeepaliveConfig{Name: "m", Target: "127.0.0.1", DownAfter: -1}, "between 1 and 100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := probes.NewMonitor(tt.cfg, nil)
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		path, code, want string
	}{
		{filepath.Join(dir, "missing.json"), vpndiag.ENOTFOUND, "No keep-alive state"},
		{damaged, vpndiag.EINVALID, "is damaged"},
		{badTarget, vpndiag.EINVALID, "not a valid IP address"},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			_, err := probes.LoadMonitor(tt.path, nil)
			if vpndiag.ErrorCode(err) != tt.code || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want %s %q", err, tt.code, tt.want)
			}
		})
	}
	t.Run("probe params", func(t *testing.T) {
		for params, want := range map[string]map[string]string{
			"duration must be between":     {"duration": "2h"},
			"interval must be between":     {"interval": "10ms"},
			"must not exceed its interval": {"interval": "1s", "ping_timeout": "2s"},
			"down_after must be between":   {"down_after": "0"},
		} {
			_, err := (&probes.Local{}).Probe(context.Background(), &vpndiag.ProbeRequest{Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Params: want})
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), params) {
				t.Errorf("%v: error %v, want %q", want, err, params)
			}
		}
	})
}

// keepaliveHelperInput configures the keepalive helper.
type keepaliveHelperInput struct {
	Config probes.KeepaliveConfig `json:"config"`
}

// helperKeepalive runs a monitor inside a namespace until SIGTERM and
// returns its final status.
func helperKeepalive(ctx context.Context, in []byte) (any, error) {
	var input keepaliveHelperInput
	if err := json.Unmarshal(in, &input); err != nil {
		return nil, err
	}
	m, err := probes.NewMonitor(input.Config, &memorySink{})
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	m.Wait()
	if err := m.Stop(); err != nil {
		return nil, err
	}
	return m.Status(), nil
}

// flapInput schedules outages of a router: forwarding off for Outage
// every Period, Cycles times, the first after Lead.
type flapInput struct {
	Lead, Period, Outage time.Duration
	Cycles               int
}

// helperFlap turns IPv4 forwarding of its namespace off and on on
// schedule. It writes /proc directly (no process per toggle), so the
// outages start within a millisecond of their schedule.
func helperFlap(ctx context.Context, in []byte) (any, error) {
	var f flapInput
	if err := json.Unmarshal(in, &f); err != nil {
		return nil, err
	}
	set := func(v string) error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(v), 0o644) }
	start := time.Now().Add(f.Lead)
	var downs []time.Time
	for i := 0; i < f.Cycles; i++ {
		at := start.Add(time.Duration(i) * f.Period)
		time.Sleep(time.Until(at))
		if err := set("0"); err != nil {
			return nil, err
		}
		downs = append(downs, time.Now())
		time.Sleep(time.Until(at.Add(f.Outage)))
		if err := set("1"); err != nil {
			return nil, err
		}
	}
	return downs, nil
}

// TestKeepaliveNamespaces runs the monitor with short real intervals
// across client — router — target while the router stops forwarding on a
// schedule.
func TestKeepaliveNamespaces(t *testing.T) {
	c := nstest.MustChain(t, 3)

	t.Run("monitor sees a periodic drop", func(t *testing.T) {
		// pro-bing's receive loop polls with up to ~100 ms read deadlines,
		// so one ping takes up to about 100 ms more than its round trip:
		// intervals of 250 ms keep every tick on a loaded machine.
		cfg := probes.KeepaliveConfig{Name: "ns", Target: c.Target(), Interval: 250 * time.Millisecond, Timeout: 200 * time.Millisecond, DownAfter: 2}
		h := c.StartHelper(t, 0, "keepalive", keepaliveHelperInput{Config: cfg}, nil)
		const period = 2500 * time.Millisecond
		var downs []time.Time
		c.RunHelper(t, 1, "flap", flapInput{Lead: time.Second, Period: period, Outage: time.Second, Cycles: 4}, &downs, nil)
		time.Sleep(500 * time.Millisecond)
		h.Stop()
		var st probes.KeepaliveState
		if err := h.Wait(&st); err != nil {
			t.Fatal(err)
		}
		var got []time.Time
		for _, tr := range st.Transitions {
			if !tr.Up {
				got = append(got, tr.Time)
			}
		}
		if len(got) != 4 || st.Periodic == nil {
			t.Fatalf("drops at %v (scheduled %v), periodic %+v", got, downs, st.Periodic)
		}
		if d := st.Periodic.Period - period; d > 400*time.Millisecond || d < -400*time.Millisecond {
			t.Errorf("period %s, want about %s", st.Periodic.Period, period)
		}
		if st.Periodic.Hourly || st.Periodic.Code != kb.CodePeriodicDrop {
			t.Errorf("%+v", st.Periodic)
		}
		t.Logf("keep-alive in namespaces: %d/%d replies, period %s detected from %d drops", st.Received, st.Sent, st.Periodic.Period, st.Periodic.Drops)
	})
	t.Run("one-shot probe reports the drop", func(t *testing.T) {
		req := &vpndiag.ProbeRequest{ID: "k1", Kind: vpndiag.ProbeKeepalive, Target: c.Target(),
			Params: map[string]string{"interval": "250ms", "duration": "3s"}, Timeout: 6 * time.Second}
		h := c.StartHelper(t, 0, "probe", req, nil)
		c.RunHelper(t, 1, "flap", flapInput{Lead: time.Second, Outage: time.Second, Cycles: 1}, nil, nil)
		var out helperOutput
		if err := h.Wait(&out); err != nil {
			t.Fatal(err)
		}
		res := out.Result
		d := MustDetail[probes.KeepaliveResult](t, res)
		if res.Outcome != probes.OutcomeDrops || len(d.Transitions) != 3 || len(d.Samples) != d.Sent || d.Sent < 8 {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d.Transitions)
		}
		if res.Duration < 2900*time.Millisecond || res.Duration > 4*time.Second {
			t.Errorf("took %s for a 3 s run", res.Duration)
		}
	})
}
