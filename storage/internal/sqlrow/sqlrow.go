// Package sqlrow holds what storage/sqlite and storage/postgres do the same
// way with rows: the column lists of the tables they share, reading a row
// into a vpndiag type, the checks a value passes before it is stored, the
// JSON columns' encoding, a case filter turned into a WHERE clause, and the
// events a case change appends. Transactions, SQL statements that differ and
// error translation stay in each store.
//
// Reading works on both drivers through Scanner, which *sql.Row, *sql.Rows,
// pgx.Row and pgx.Rows satisfy. Columns whose stored form differs between
// the stores are read through the sql.Scanner values of this package: a time
// is RFC 3339 text in SQLite and timestamptz in PostgreSQL, a JSON document
// is text in one and json or jsonb in the other; pgx hands such columns to a
// sql.Scanner in the form database/sql would.
package sqlrow

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scanner is one row being read: *sql.Row, *sql.Rows, pgx.Row or pgx.Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result being read: *sql.Rows or pgx.Rows. The caller closes it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect reads every row of rows with scan. It returns an empty slice, not
// nil, when there is no row.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Dialect is what differs in the SQL text of the two stores.
type Dialect struct {
	// Placeholder returns the placeholder of the n-th parameter (from 1).
	Placeholder func(n int) string
	// NoLimit is a LIMIT that lets every row through, for an OFFSET alone.
	NoLimit string
	// Unset is what an optional JSON document column holds when the value
	// is not set: '' in SQLite (NOT NULL DEFAULT ''), NULL in PostgreSQL.
	Unset any
}

// SQLite uses "?" placeholders.
var SQLite = Dialect{Placeholder: func(int) string { return "?" }, NoLimit: "-1", Unset: ""}

// Postgres uses numbered placeholders "$1", "$2", ….
var Postgres = Dialect{Placeholder: func(n int) string { return "$" + strconv.Itoa(n) }, NoLimit: "ALL", Unset: nil}

// Args collects the parameters of a statement and writes their
// placeholders in the dialect's style.
type Args struct {
	d    Dialect
	vals []any
}

// Args returns an empty parameter list of d.
func (d Dialect) Args() *Args { return &Args{d: d} }

// Add appends v and returns its placeholder.
func (a *Args) Add(v any) string {
	a.vals = append(a.vals, v)
	return a.d.Placeholder(len(a.vals))
}

// Values returns the parameters added so far.
func (a *Args) Values() []any { return a.vals }

// Where joins conditions with AND; no condition selects every row.
func Where(conds []string) string {
	if len(conds) == 0 {
		return "1 = 1"
	}
	return strings.Join(conds, " AND ")
}

// Time reads a stored time into *t, in UTC: SQLite's RFC 3339 text or
// PostgreSQL's timestamptz.
func Time(t *time.Time) sql.Scanner { return timeDest{t} }

type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	} else if t == nil {
		return fmt.Errorf("stored time is NULL")
	}
	*d.t = *t
	return nil
}

// NullTime reads an optional stored time into *t; NULL is nil.
func NullTime(t **time.Time) sql.Scanner { return nullTimeDest{t} }

type nullTimeDest struct{ t **time.Time }

func (d nullTimeDest) Scan(src any) error {
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*d.t = t
	return nil
}

// parseTime returns the time src holds, in UTC, or nil for NULL.
func parseTime(src any) (*time.Time, error) {
	var t time.Time
	switch v := src.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = v.UTC()
	case string, []byte:
		s := text(v)
		p, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("stored time %q: %w", s, err)
		}
		t = p.UTC()
	default:
		return nil, fmt.Errorf("stored time: unexpected %T", src)
	}
	return &t, nil
}

// ID reads an optional reference into *id; NULL is 0.
func ID(id *int64) sql.Scanner { return idDest{id} }

type idDest struct{ id *int64 }

func (d idDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.id = 0
	case int64:
		*d.id = v
	case int32:
		*d.id = int64(v)
	default:
		return fmt.Errorf("stored id: unexpected %T", src)
	}
	return nil
}

// Text reads an optional text column into *s; NULL is "".
func Text(s *string) sql.Scanner { return textDest{s} }

type textDest struct{ s *string }

func (d textDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.s = ""
	case string, []byte:
		*d.s = text(v)
	default:
		return fmt.Errorf("stored text: unexpected %T", src)
	}
	return nil
}

// RawJSON reads an optional JSON column into *m as stored; NULL is nil.
func RawJSON(m *json.RawMessage) sql.Scanner { return rawJSONDest{m} }

type rawJSONDest struct{ m *json.RawMessage }

func (d rawJSONDest) Scan(src any) error {
	var s string
	if err := Text(&s).Scan(src); err != nil {
		return err
	}
	if src == nil {
		*d.m = nil
	} else {
		*d.m = json.RawMessage(s)
	}
	return nil
}

// text returns a string or []byte as a string (a copy, so a driver may
// reuse its buffer).
func text(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v.(string)
}

// NullID stores 0 as NULL, for optional references.
func NullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// NullJSON stores nil as NULL and anything else as JSON text.
func NullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// JSON encodes v as JSON text for a JSON column; what reason names the
// column in the error.
func JSON(reason string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", reason, err)
	}
	return string(b), nil
}
