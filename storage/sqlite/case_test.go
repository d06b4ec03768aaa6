package sqlite_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func ptr[T any](v T) *T { return &v }

func TestCaseService_CreateFind(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	cs := sqlite.NewCaseService(db)
	c := MustCreateCase(t, db, 1)
	if c.ID == 0 || c.CreatedAt.IsZero() || !c.CreatedAt.Equal(c.UpdatedAt) {
		t.Fatalf("ID/timestamps not set: %+v", c)
	}

	byID, err := cs.FindCaseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byID, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", byID, c)
	}
	byMarker, err := cs.FindCaseByMarker(ctx, c.Marker)
	if err != nil {
		t.Fatal(err)
	} else if !reflect.DeepEqual(byMarker, c) {
		t.Fatalf("by marker:\n got %+v\nwant %+v", byMarker, c)
	}

	es, err := sqlite.NewEventService(db).FindEvents(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Kind != vpndiag.EventCaseCreated || es[0].Seq != 1 || es[0].Actor != "alice" {
		t.Fatalf("events after create = %+v, want one case.created by alice", es)
	}
}

func TestCaseService_Errors(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	cs := sqlite.NewCaseService(db)
	c := MustCreateCase(t, db, 1)

	for _, tt := range []struct {
		name string
		err  func() error
		code string
		msg  string
	}{
		{"ByIDNotFound", func() error { _, err := cs.FindCaseByID(ctx, 999); return err }, vpndiag.ENOTFOUND, "Case 999 not found."},
		{"ByMarkerNotFound", func() error { _, err := cs.FindCaseByMarker(ctx, "VPN-20261125-ZZZZ"); return err },
			vpndiag.ENOTFOUND, "Case VPN-20261125-ZZZZ not found."},
		{"DuplicateMarker", func() error {
			return cs.CreateCase(ctx, &vpndiag.Case{Marker: c.Marker, Status: vpndiag.CaseOpen, Origin: "slack"})
		}, vpndiag.ECONFLICT, "Case " + c.Marker + " already exists."},
		{"Invalid", func() error {
			return cs.CreateCase(ctx, &vpndiag.Case{Marker: "nope", Status: vpndiag.CaseOpen, Origin: "slack"})
		}, vpndiag.EINVALID, ""},
		{"UnknownSite", func() error {
			return cs.CreateCase(ctx, &vpndiag.Case{Marker: marker(2), Status: vpndiag.CaseOpen, Origin: "slack", SiteID: 42})
		}, vpndiag.ENOTFOUND, "Site 42 not found."},
		{"UpdateNotFound", func() error { _, err := cs.UpdateCase(ctx, 999, vpndiag.CaseUpdate{}); return err },
			vpndiag.ENOTFOUND, "Case 999 not found."},
		{"UpdateBadStatus", func() error {
			_, err := cs.UpdateCase(ctx, c.ID, vpndiag.CaseUpdate{Status: ptr(vpndiag.CaseStatus("odd"))})
			return err
		}, vpndiag.EINVALID, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			wantCode(t, err, tt.code)
			if tt.msg != "" && vpndiag.ErrorMessage(err) != tt.msg {
				t.Fatalf("message = %q, want %q", vpndiag.ErrorMessage(err), tt.msg)
			}
		})
	}
	// The failed creations left nothing behind.
	if _, n, err := cs.FindCases(ctx, vpndiag.CaseFilter{}); err != nil || n != 1 {
		t.Fatalf("cases after failures = %d, %v; want 1", n, err)
	}
}

func TestCaseService_Update(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	cs := sqlite.NewCaseService(db)
	c := MustCreateCase(t, db, 1)
	site := &vpndiag.Site{Name: "hq", CloudDNSServers: mustAddrs(t, "10.0.0.2")}
	if err := sqlite.NewSiteService(db).UpsertSite(ctx, site); err != nil {
		t.Fatal(err)
	}

	got, err := cs.UpdateCase(ctx, c.ID, vpndiag.CaseUpdate{
		Title:      ptr("DNS does not resolve"),
		Status:     ptr(vpndiag.CaseResolved),
		SiteID:     ptr(site.ID),
		ThreadTS:   ptr("1700000000.000100"),
		Resolution: ptr("fix-forwarder"),
		KBArticle:  ptr("kb/dns-forwarder"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.Title, want.Status, want.SiteID = "DNS does not resolve", vpndiag.CaseResolved, site.ID
	want.ThreadTS, want.Resolution, want.KBArticle = "1700000000.000100", "fix-forwarder", "kb/dns-forwarder"
	want.UpdatedAt = got.UpdatedAt
	if !got.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("UpdatedAt %v not after %v", got.UpdatedAt, c.UpdatedAt)
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("update:\n got %+v\nwant %+v", got, &want)
	}
	stored, err := cs.FindCaseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	} else if !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored:\n got %+v\nwant %+v", stored, got)
	}

	es, err := sqlite.NewEventService(db).FindEvents(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[1].Kind != vpndiag.EventCaseUpdated || es[1].Seq != 2 {
		t.Fatalf("events = %+v, want case.created then case.updated", es)
	}

	// Clearing the site stores no site.
	got, err = cs.UpdateCase(ctx, c.ID, vpndiag.CaseUpdate{SiteID: ptr(int64(0))})
	if err != nil || got.SiteID != 0 {
		t.Fatalf("clear site = %+v, %v", got, err)
	}
}

func TestCaseService_FindCases(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	cs := sqlite.NewCaseService(db)
	var all []*vpndiag.Case
	for i := 0; i < 5; i++ {
		c := &vpndiag.Case{Marker: marker(i), Title: "t", Status: vpndiag.CaseOpen, Origin: "slack", ChannelID: "C1", ThreadTS: fmt.Sprintf("1700000000.%06d", i)}
		if i%2 == 1 {
			c.Status, c.ChannelID = vpndiag.CaseClosed, "C2"
		}
		if err := cs.CreateCase(ctx, c); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	ids := func(cs []*vpndiag.Case) []int64 {
		out := []int64{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		filter vpndiag.CaseFilter
		want   []int64
		total  int
	}{
		{"All", vpndiag.CaseFilter{}, ids([]*vpndiag.Case{all[4], all[3], all[2], all[1], all[0]}), 5},
		{"Status", vpndiag.CaseFilter{Status: ptr(vpndiag.CaseClosed)}, ids([]*vpndiag.Case{all[3], all[1]}), 2},
		{"Channel", vpndiag.CaseFilter{ChannelID: ptr("C1")}, ids([]*vpndiag.Case{all[4], all[2], all[0]}), 3},
		{"Thread", vpndiag.CaseFilter{ChannelID: ptr("C1"), ThreadTS: ptr(all[2].ThreadTS)}, ids(all[2:3]), 1},
		{"ThreadOfAnotherChannel", vpndiag.CaseFilter{ChannelID: ptr("C1"), ThreadTS: ptr(all[1].ThreadTS)}, []int64{}, 0},
		{"Marker", vpndiag.CaseFilter{Marker: ptr(all[2].Marker)}, ids(all[2:3]), 1},
		{"ID", vpndiag.CaseFilter{ID: ptr(all[1].ID)}, ids(all[1:2]), 1},
		{"NoSite", vpndiag.CaseFilter{SiteID: ptr(int64(0))}, ids([]*vpndiag.Case{all[4], all[3], all[2], all[1], all[0]}), 5},
		{"Page", vpndiag.CaseFilter{Offset: 1, Limit: 2}, ids([]*vpndiag.Case{all[3], all[2]}), 5},
		{"OffsetOnly", vpndiag.CaseFilter{Offset: 3}, ids([]*vpndiag.Case{all[1], all[0]}), 5},
		{"None", vpndiag.CaseFilter{ChannelID: ptr("C9")}, []int64{}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := cs.FindCases(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) || n != tt.total {
				t.Fatalf("got %v (total %d), want %v (total %d)", ids(got), n, tt.want, tt.total)
			}
		})
	}
}
