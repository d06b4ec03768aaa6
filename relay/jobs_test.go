package relay_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Requests are routed by site ID to a connected relay of that site; a relay
// named for a case of another site is refused.
func TestProbeRoutesBySiteID(t *testing.T) {
	e := newHubEnv(t)
	hq, branch := e.dial(e.enrol("hq-1", 0)), e.dial(e.enrol("branch-1", 1))
	hqJobs, branchJobs := make(chan *vpndiag.ProbeRequest, 4), make(chan *vpndiag.ProbeRequest, 4)
	answer(t, hq, hqJobs)
	answer(t, branch, branchJobs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, want := range []string{"hq-1", "branch-1"} {
		res, err := e.hub.Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.cases[i], SiteID: e.sites[i].ID, Kind: vpndiag.ProbeTCP, Target: "10.0.0.1:443"})
		if err != nil || res.Relay != want {
			t.Fatalf("site %s: %+v, %v; want relay %s", e.sites[i].Name, res, err, want)
		}
	}
	if len(hqJobs) != 1 || len(branchJobs) != 1 {
		t.Fatalf("jobs: hq %d, branch %d; want 1 each", len(hqJobs), len(branchJobs))
	}
	_, err := e.hub.Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.cases[1], SiteID: e.sites[1].ID, Relay: "hq-1", Kind: vpndiag.ProbeTCP, Target: "10.0.0.1:443"})
	if vpndiag.ErrorCode(err) != vpndiag.EFORBIDDEN {
		t.Fatalf("relay of another site: %v, want EFORBIDDEN", err)
	}
	if len(hqJobs) != 1 {
		t.Fatal("the relay of another site was sent the job")
	}
}

// Every Probe call is a new job with a random wire ID of the hub's: the
// caller's ID never reaches the relay, running a step again is not refused
// as a duplicate, and the result comes back (and is stored) under the
// caller's ID.
func TestProbeJobIDs(t *testing.T) {
	e := newHubEnv(t)
	ws := e.dial(e.enrol("hq-1", 0))
	jobs := make(chan *vpndiag.ProbeRequest, 4)
	answer(t, ws, jobs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &vpndiag.ProbeRequest{ID: "case1-seq3-1", CaseID: e.cases[0], Relay: "hq-1", Kind: vpndiag.ProbeTCP, Target: "10.0.0.1:443"}
	var wire []string
	for try := range 2 { // "Run the probes" clicked twice
		res, err := e.hub.Probe(ctx, req)
		if err != nil {
			t.Fatalf("run %d: %v", try+1, err)
		}
		if res.ID != "case1-seq3-1" || !res.Stored {
			t.Fatalf("result ID %q, stored %v; want the caller's, marked stored (the engine must not store it again)", res.ID, res.Stored)
		}
		wire = append(wire, (<-jobs).ID)
	}
	re := regexp.MustCompile(`^job-[0-9a-f]{24}$`)
	if wire[0] == wire[1] || !re.MatchString(wire[0]) || !re.MatchString(wire[1]) {
		t.Fatalf("wire job IDs %q: want two different random IDs", wire)
	}
	stored, err := e.probes.FindProbeResults(ctx, e.cases[0])
	if err != nil || len(stored) != 1 || stored[0].ID != "case1-seq3-1" {
		t.Fatalf("stored %+v, %v; want one result under the caller's ID", stored, err)
	}
}
