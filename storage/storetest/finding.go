package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
)

func testFindingService(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	fs := db.Findings
	c := MustCreateCase(t, db, 1)

	info := &vpndiag.Finding{Code: "dpd-off", Severity: vpndiag.SeverityInfo, Summary: "DPD is off", Source: "rule"}
	warn1 := &vpndiag.Finding{Code: "phase1-lifetime", Severity: vpndiag.SeverityWarning, Summary: "Lifetime 86400",
		Detail: "The cloud uses 28800.", Fix: "Set ikelifetime=28800s", KBArticle: "kb/lifetimes", Source: "rule",
		Evidence: []vpndiag.EvidenceRef{{EvidenceID: 7, Name: "ipsec.conf", Line: 12, Text: "ikelifetime=24h"}}}
	crit := &vpndiag.Finding{Code: "psk-mismatch", Severity: vpndiag.SeverityCritical, Summary: "Auth failed",
		Source: "log", Evidence: []vpndiag.EvidenceRef{{Name: "charon.log"}}}
	warn2 := &vpndiag.Finding{Code: "nat-t", Severity: vpndiag.SeverityWarning, Summary: "NAT-T off", Source: "rule"}
	if err := fs.CreateFindings(ctx, c.ID, []*vpndiag.Finding{info, warn1, crit, warn2}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*vpndiag.Finding{info, warn1, crit, warn2} {
		if f.ID == 0 || f.CaseID != c.ID || f.CreatedAt.IsZero() {
			t.Fatalf("fields not set: %+v", f)
		}
	}
	got, err := fs.FindFindings(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []*vpndiag.Finding{crit, warn1, warn2, info}; !reflect.DeepEqual(got, want) {
		t.Fatalf("findings, worst first:\n got %+v\nwant %+v", got, want)
	}

	for _, tt := range []struct {
		name   string
		caseID int64
		fs     []*vpndiag.Finding
		code   string
	}{
		{"NoCase", 999, []*vpndiag.Finding{warn2}, vpndiag.ENOTFOUND},
		{"BadSeverity", c.ID, []*vpndiag.Finding{{Code: "x", Severity: "meh"}}, vpndiag.EINVALID},
		{"OneBadAllOut", c.ID, []*vpndiag.Finding{{Code: "ok", Severity: vpndiag.SeverityInfo}, {Severity: vpndiag.SeverityInfo}}, vpndiag.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, fs.CreateFindings(ctx, tt.caseID, tt.fs), tt.code) })
	}
	if got, err := fs.FindFindings(ctx, c.ID); err != nil || len(got) != 4 {
		t.Fatalf("after refused batches: %d findings, %v; want 4", len(got), err)
	}
}
