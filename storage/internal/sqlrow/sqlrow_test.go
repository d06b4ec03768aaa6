package sqlrow_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

func TestCaseWhere(t *testing.T) {
	id, thread, site0, site7 := int64(4), "1700000000.000100", int64(0), int64(7)
	open := vpndiag.CaseOpen
	tests := []struct {
		name   string
		d      sqlrow.Dialect
		filter vpndiag.CaseFilter
		where  string
		page   string
		args   []any
	}{
		{"none", sqlrow.SQLite, vpndiag.CaseFilter{}, "1 = 1", "", nil},
		{"sqlite", sqlrow.SQLite, vpndiag.CaseFilter{ID: &id, ThreadTS: &thread, Status: &open, Limit: 5, Offset: 10},
			"id = ? AND thread_ts = ? AND status = ?", " LIMIT ? OFFSET ?", []any{id, thread, "open", 5, 10}},
		{"postgres", sqlrow.Postgres, vpndiag.CaseFilter{ID: &id, ThreadTS: &thread, Status: &open, Limit: 5, Offset: 10},
			"id = $1 AND thread_ts = $2 AND status = $3", " LIMIT $4 OFFSET $5", []any{id, thread, "open", 5, 10}},
		{"no site, offset alone, sqlite", sqlrow.SQLite, vpndiag.CaseFilter{SiteID: &site0, Offset: 3},
			"site_id IS NULL", " LIMIT -1 OFFSET ?", []any{3}},
		{"no site, offset alone, postgres", sqlrow.Postgres, vpndiag.CaseFilter{SiteID: &site0, Offset: 3},
			"site_id IS NULL", " LIMIT ALL OFFSET $1", []any{3}},
		{"site, limit alone", sqlrow.Postgres, vpndiag.CaseFilter{SiteID: &site7, Limit: 2},
			"site_id = $1", " LIMIT $2", []any{site7, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			where, a := sqlrow.CaseWhere(tt.d, tt.filter)
			page := sqlrow.Page(a, tt.filter.Limit, tt.filter.Offset)
			if where != tt.where || page != tt.page || !reflect.DeepEqual(a.Values(), tt.args) {
				t.Errorf("got %q %q %v, want %q %q %v", where, page, a.Values(), tt.where, tt.page, tt.args)
			}
		})
	}
}

// row is a Scanner over fixed driver values, as database/sql or pgx hand
// them to a sql.Scanner.
type row []any

func (r row) Scan(dest ...any) error {
	for i, d := range dest {
		switch d := d.(type) {
		case interface{ Scan(any) error }:
			if err := d.Scan(r[i]); err != nil {
				return err
			}
		default:
			reflect.ValueOf(d).Elem().Set(reflect.ValueOf(r[i]))
		}
	}
	return nil
}

func TestScanEvent(t *testing.T) {
	want := time.Date(2026, 11, 25, 18, 55, 0, 123456789, time.UTC)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		time any
		data any
		want json.RawMessage
	}{
		{"sqlite text", "2026-11-25T18:55:00.123456789Z", "{\"b\": 1, \"a\": 2}", json.RawMessage("{\"b\": 1, \"a\": 2}")},
		{"postgres timestamptz and json bytes", want.In(paris), []byte(`{"a":2}`), json.RawMessage(`{"a":2}`)},
		{"no data", want, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := sqlrow.ScanEvent(row{int64(1), int64(2), 3, tt.time, "U1", "answer", "no", tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if !e.Time.Equal(want) || e.Time.Location() != time.UTC || string(e.Data) != string(tt.want) || (e.Data == nil) != (tt.want == nil) {
				t.Errorf("time %v data %q, want %v in UTC and %q", e.Time, e.Data, want, tt.want)
			}
		})
	}
}

func TestScanRelayTokenNullTimes(t *testing.T) {
	seen := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tok, err := sqlrow.ScanRelayToken(row{int64(1), "edge", int64(2), "h", "p", "2026-11-25T08:00:00.000000000Z", seen, nil})
	if err != nil {
		t.Fatal(err)
	}
	if tok.LastSeenAt == nil || !tok.LastSeenAt.Equal(seen) || tok.RevokedAt != nil {
		t.Errorf("last seen %v, revoked %v; want %v and nil", tok.LastSeenAt, tok.RevokedAt, seen)
	}
	if _, err := sqlrow.ScanRelayToken(row{int64(1), "edge", int64(2), "h", "p", "yesterday", nil, nil}); err == nil {
		t.Error("a stored time that is not RFC 3339 was accepted")
	}
}
