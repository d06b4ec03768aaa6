package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

func testProbeService_Results(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	ps := db.Probes
	c := MustCreateCase(t, db, 1)

	t0 := time.Date(2026, 11, 25, 10, 0, 0, 500000, time.UTC)
	later := &vpndiag.ProbeResult{ID: "job-2", CaseID: c.ID, Kind: vpndiag.ProbePing, Target: "10.0.0.2",
		Outcome: vpndiag.OutcomeTimeout, Summary: "0/3 replies", Relay: "hq-relay-1",
		StartedAt: t0.Add(time.Second), Duration: 3 * time.Second}
	earlier := &vpndiag.ProbeResult{ID: "job-1", CaseID: c.ID, Kind: vpndiag.ProbeDNS, Target: "acme.example.cloud",
		Outcome: vpndiag.OutcomeOK, Summary: "A 10.0.1.5", Detail: json.RawMessage(`{"answers":["10.0.1.5"]}`),
		StartedAt: t0, Duration: 12345 * time.Microsecond}
	adhoc := &vpndiag.ProbeResult{ID: "job-3", Kind: vpndiag.ProbeTCP, Target: "10.0.0.2:443",
		Outcome: vpndiag.OutcomeError, Error: "permission denied", StartedAt: t0}
	for _, r := range []*vpndiag.ProbeResult{later, earlier, adhoc} {
		if err := ps.CreateProbeResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A second delivery of job-2 with different content is ignored.
	dup := *later
	dup.Outcome, dup.Summary = vpndiag.OutcomeOK, "3/3 replies"
	if err := ps.CreateProbeResult(ctx, &dup); err != nil {
		t.Fatal(err)
	}

	got, err := ps.FindProbeResults(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []*vpndiag.ProbeResult{earlier, later}; !reflect.DeepEqual(got, want) {
		t.Fatalf("results:\n got %+v\nwant %+v", got, want)
	}
	got, err = ps.FindProbeResults(ctx, 0)
	if err != nil {
		t.Fatal(err)
	} else if want := []*vpndiag.ProbeResult{adhoc}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ad hoc results:\n got %+v\nwant %+v", got, want)
	}

	for _, tt := range []struct {
		name string
		r    *vpndiag.ProbeResult
		code string
	}{
		{"NoID", &vpndiag.ProbeResult{CaseID: c.ID}, vpndiag.EINVALID},
		{"NoCase", &vpndiag.ProbeResult{ID: "job-9", CaseID: 999}, vpndiag.ENOTFOUND},
		{"BadDetail", &vpndiag.ProbeResult{ID: "job-8", Detail: json.RawMessage(`{`)}, vpndiag.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, ps.CreateProbeResult(ctx, tt.r), tt.code) })
	}
}

func testProbeService_Keepalive(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	ps := db.Probes
	c := MustCreateCase(t, db, 1)
	other := MustCreateCase(t, db, 2)

	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	first := []vpndiag.KeepaliveSample{
		{Monitor: "dns-1", Time: t0, OK: true, RTT: 1200 * time.Microsecond},
		{Monitor: "dns-1", Time: t0.Add(5 * time.Second), OK: false},
	}
	second := []vpndiag.KeepaliveSample{
		{Monitor: "dns-1", Time: t0.Add(10 * time.Second), OK: true, RTT: 900 * time.Microsecond},
	}
	for _, b := range [][]vpndiag.KeepaliveSample{second, first} {
		if err := ps.AddKeepaliveSamples(ctx, c.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ps.FindKeepaliveSamples(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]vpndiag.KeepaliveSample{}, first...), second...); !reflect.DeepEqual(got, want) {
		t.Fatalf("samples:\n got %+v\nwant %+v", got, want)
	}
	if got, err := ps.FindKeepaliveSamples(ctx, other.ID); err != nil || len(got) != 0 {
		t.Fatalf("other case samples = %v, %v", got, err)
	}
	wantCode(t, ps.AddKeepaliveSamples(ctx, 999, first), vpndiag.ENOTFOUND)
}
