package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
)

// Moving an SQLite deployment to PostgreSQL.
//
// CopyFromSQLite reads every table of an SQLite store (opened read-only by
// the caller, through database/sql) and writes it into an empty PostgreSQL
// store in one transaction, keeping every ID, so that markers, links and
// bundles stay the same. It then reads both sides back in primary key
// order and compares, table by table, the row count and a SHA-256 over a
// canonical form of every value (times in UTC to the microsecond, JSON
// documents re-encoded with sorted keys where PostgreSQL stores jsonb, the
// exact text where it stores json, bytes as they are). Any difference
// fails the copy, and the transaction is rolled back: the target is left
// as it was.

// colKind is how a column is converted and compared.
type colKind int

const (
	kInt      colKind = iota // integer
	kNullInt                 // integer or NULL
	kText                    // text
	kBool                    // SQLite 0/1, PostgreSQL boolean
	kTime                    // SQLite RFC 3339 text, PostgreSQL timestamptz
	kNullTime                // the same, or NULL
	kJSONB                   // a JSON document stored as jsonb (compared re-encoded)
	kOptJSONB                // the same, optional: SQLite '' is PostgreSQL NULL
	kJSON                    // a JSON document stored as json, or NULL (compared exactly)
	kBytes                   // bytes
)

// copyTable describes one table of the schema as both stores hold it.
type copyTable struct {
	name  string
	cols  []string
	kinds []colKind
	// order is the primary key order (SQLite's rowid for probe_results,
	// whose arrival order PostgreSQL numbers again on insert).
	order, pgOrder string
	// identity is true when id is an identity column to move past the
	// copied IDs.
	identity bool
}

// copyTables lists the tables in an order that satisfies the references.
var copyTables = []copyTable{
	{name: "sites", identity: true, order: "id",
		cols: []string{"id", "name", "cloud_dns_servers", "vpn_endpoints", "cloud_cidr", "environment_fqdns",
			"cloud_domain", "customer_cidrs", "internal_resolvers", "customer_peer", "routing", "ike_version",
			"only_443", "console_version", "channels", "phase1", "phase2", "created_at", "updated_at"},
		kinds: []colKind{kInt, kText, kJSONB, kJSONB, kText, kJSONB, kText, kJSONB, kJSONB, kText, kText, kInt,
			kBool, kText, kJSONB, kOptJSONB, kOptJSONB, kTime, kTime}},
	{name: "cases", identity: true, order: "id",
		cols: []string{"id", "marker", "site_id", "title", "status", "origin", "channel_id", "thread_ts",
			"created_by", "resolution", "kb_article", "created_at", "updated_at"},
		kinds: []colKind{kInt, kText, kNullInt, kText, kText, kText, kText, kText, kText, kText, kText, kTime, kTime}},
	{name: "sessions", order: "case_id",
		cols:  []string{"case_id", "flow", "flow_version", "state", "seq", "vars", "path", "updated_at"},
		kinds: []colKind{kInt, kText, kInt, kText, kInt, kJSONB, kJSONB, kTime}},
	{name: "answers", identity: true, order: "id",
		cols: []string{"id", "case_id", "seq", "flow", "state", "question", "choice", "label", "value", "source",
			"source_ref", "actor", "created_at"},
		kinds: []colKind{kInt, kInt, kInt, kText, kText, kText, kText, kText, kText, kText, kText, kText, kTime}},
	{name: "events", identity: true, order: "id",
		cols:  []string{"id", "case_id", "seq", "time", "actor", "kind", "message", "data"},
		kinds: []colKind{kInt, kInt, kInt, kTime, kText, kText, kText, kJSON}},
	{name: "transition_keys", order: "key",
		cols:  []string{"key", "case_id", "created_at"},
		kinds: []colKind{kText, kInt, kTime}},
	{name: "dedup_keys", order: "key",
		cols:  []string{"key", "created_at"},
		kinds: []colKind{kText, kTime}},
	{name: "probe_results", order: "rowid", pgOrder: "arrival",
		cols: []string{"id", "case_id", "kind", "target", "outcome", "summary", "detail", "error", "relay",
			"started_at", "duration_ns"},
		kinds: []colKind{kText, kNullInt, kText, kText, kText, kText, kJSON, kText, kText, kTime, kInt}},
	{name: "keepalive_samples", identity: true, order: "id",
		cols:  []string{"id", "case_id", "monitor", "time", "ok", "rtt_ns"},
		kinds: []colKind{kInt, kInt, kText, kTime, kBool, kInt}},
	{name: "evidence", identity: true, order: "id",
		cols: []string{"id", "case_id", "name", "kind", "media_type", "vendor", "size", "sha256", "original_size",
			"original_sha256", "redactions", "crc32", "compressed_size", "uploaded_by", "created_at"},
		kinds: []colKind{kInt, kInt, kText, kText, kText, kText, kInt, kText, kInt, kText, kInt, kInt, kInt, kText, kTime}},
	{name: "evidence_chunks", order: "evidence_id, n",
		cols:  []string{"evidence_id", "n", "data"},
		kinds: []colKind{kInt, kInt, kBytes}},
	{name: "findings", identity: true, order: "id",
		cols: []string{"id", "case_id", "code", "severity", "severity_rank", "summary", "detail", "fix", "kb_article",
			"evidence", "source", "created_at"},
		kinds: []colKind{kInt, kInt, kText, kText, kInt, kText, kText, kText, kText, kJSONB, kText, kTime}},
	{name: "relay_tokens", identity: true, order: "id",
		cols:  []string{"id", "name", "site_id", "hash", "prefix", "created_at", "last_seen_at", "revoked_at"},
		kinds: []colKind{kInt, kText, kInt, kText, kText, kTime, kNullTime, kNullTime}},
}

// CopyReport is what a copy moved and checked.
type CopyReport struct {
	// Tables are the tables in copy order.
	Tables []TableReport `json:"tables"`
	// SubMicrosecondTimes counts SQLite times with digits below the
	// microsecond, which PostgreSQL keeps to the microsecond.
	SubMicrosecondTimes int `json:"sub_microsecond_times"`
}

// TableReport is one table's count and checksum, equal on both sides.
type TableReport struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// CopyFromSQLite copies the SQLite store src into the empty, migrated
// PostgreSQL store dst and verifies counts and checksums; see above.
// ECONFLICT when dst already holds data.
func CopyFromSQLite(ctx context.Context, src *sql.DB, dst *DB) (*CopyReport, error) {
	tx, err := dst.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Nobody else writes while we copy: a replica started meanwhile waits.
	for _, t := range copyTables {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+t.name+` IN EXCLUSIVE MODE`); err != nil {
			return nil, fmt.Errorf("copy: lock %s: %w", t.name, runtimeError(err))
		}
	}
	for _, t := range copyTables {
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.name+`)`).Scan(&has); err != nil {
			return nil, fmt.Errorf("copy: %w", runtimeError(err))
		} else if has {
			return nil, vpndiag.Errorf(vpndiag.ECONFLICT,
				"The PostgreSQL database %s already holds data (table %s); copy into an empty database.", Redacted(dst.URL), t.name)
		}
	}
	// SQLite reads run in one read transaction: a consistent snapshot even
	// if a stray writer touches the file.
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("copy: read the SQLite database: %w", err)
	}
	defer stx.Rollback()

	rep := &CopyReport{}
	for _, t := range copyTables {
		n, sub, err := copyRows(ctx, stx, tx, t)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t.name, err)
		}
		rep.SubMicrosecondTimes += sub
		if t.identity && n > 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))`,
				t.name, t.name)); err != nil {
				return nil, fmt.Errorf("copy %s: identity: %w", t.name, runtimeError(err))
			}
		}
	}
	// Each case's next event seq continues after its last event.
	if _, err := tx.Exec(ctx, `UPDATE cases SET event_seq = e.max FROM
		(SELECT case_id, max(seq) AS max FROM events GROUP BY case_id) e WHERE cases.id = e.case_id`); err != nil {
		return nil, fmt.Errorf("copy: event seq: %w", runtimeError(err))
	}

	for _, t := range copyTables {
		srcSum, err := sqliteChecksum(ctx, stx, t)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", t.name, err)
		}
		dstSum, err := pgChecksum(ctx, tx, t)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", t.name, err)
		}
		if srcSum != dstSum {
			return nil, vpndiag.Errorf(vpndiag.EINTERNAL,
				"Copy check failed for table %s: SQLite has %d rows (sha256 %s), PostgreSQL %d rows (sha256 %s); nothing was copied.",
				t.name, srcSum.Rows, srcSum.SHA256, dstSum.Rows, dstSum.SHA256)
		}
		rep.Tables = append(rep.Tables, srcSum)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return rep, nil
}

// copyRows copies table t from src to dst with COPY, converting each value;
// it returns the rows copied and the sub-microsecond times seen.
func copyRows(ctx context.Context, src *sql.Tx, dst *Tx, t copyTable) (int64, int, error) {
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(t.cols, ", ")+` FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	sub := 0
	n, err := dst.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, &sqliteSource{rows: rows, t: t, sub: &sub})
	if err != nil {
		return 0, 0, runtimeError(err)
	}
	return n, sub, nil
}

// sqliteSource feeds SQLite rows to pgx's CopyFrom.
type sqliteSource struct {
	rows *sql.Rows
	t    copyTable
	vals []any
	err  error
	sub  *int
}

func (s *sqliteSource) Next() bool {
	if !s.rows.Next() {
		return false
	}
	raw := make([]any, len(s.t.cols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if s.err = s.rows.Scan(ptrs...); s.err != nil {
		return false
	}
	s.vals = make([]any, len(raw))
	for i, v := range raw {
		if s.vals[i], s.err = fromSQLite(v, s.t.kinds[i], s.sub); s.err != nil {
			s.err = fmt.Errorf("column %s: %w", s.t.cols[i], s.err)
			return false
		}
	}
	return true
}

func (s *sqliteSource) Values() ([]any, error) { return s.vals, s.err }

func (s *sqliteSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// fromSQLite converts a value SQLite returned to what PostgreSQL stores.
func fromSQLite(v any, k colKind, sub *int) (any, error) {
	if v == nil {
		return nil, nil
	}
	if k == kOptJSONB && asText(v) == "" {
		return nil, nil
	}
	switch k {
	case kBool:
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("want 0 or 1, got %T", v)
		}
		return n != 0, nil
	case kTime, kNullTime:
		t, err := time.Parse(time.RFC3339Nano, asText(v))
		if err != nil {
			return nil, err
		}
		if t.Nanosecond()%1000 != 0 {
			(*sub)++
		}
		return micro(t), nil
	case kText, kJSON, kJSONB, kOptJSONB:
		return asText(v), nil
	case kBytes:
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			return []byte(b), nil
		}
	}
	return v, nil
}

// asText returns a text value SQLite may hand back as string or []byte.
func asText(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// checksum accumulates the canonical form of a table's rows.
type checksum struct {
	h    hash.Hash
	rows int64
}

// add adds one row of canonical values.
func (c *checksum) add(vals []string) {
	c.rows++
	for _, v := range vals {
		fmt.Fprintf(c.h, "%d:%s;", len(v), v)
	}
	c.h.Write([]byte{'\n'})
}

// canonical returns the comparable form of a value from either store.
func canonical(v any, k colKind) (string, error) {
	if v == nil || (k == kOptJSONB && asText(v) == "") {
		return "NULL", nil
	}
	switch k {
	case kTime, kNullTime:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		default:
			var err error
			if t, err = time.Parse(time.RFC3339Nano, asText(v)); err != nil {
				return "", err
			}
		}
		return micro(t).Format(time.RFC3339Nano), nil
	case kBool:
		switch x := v.(type) {
		case bool:
			return fmt.Sprint(x), nil
		case int64:
			return fmt.Sprint(x != 0), nil
		}
	case kJSONB, kOptJSONB:
		var doc any
		if err := json.Unmarshal([]byte(asText(v)), &doc); err != nil {
			return "", err
		}
		b, err := json.Marshal(doc)
		return string(b), err
	case kBytes:
		switch b := v.(type) {
		case []byte:
			return hex.EncodeToString(b), nil
		case string:
			return hex.EncodeToString([]byte(b)), nil
		}
	case kInt, kNullInt:
		switch x := v.(type) {
		case int64, int32, int16, int:
			return fmt.Sprint(x), nil
		}
	}
	return asText(v), nil
}

// sqliteChecksum reads table t from SQLite in canonical form.
func sqliteChecksum(ctx context.Context, src *sql.Tx, t copyTable) (TableReport, error) {
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(t.cols, ", ")+` FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return TableReport{}, err
	}
	defer rows.Close()
	c := checksum{h: sha256.New()}
	for rows.Next() {
		raw := make([]any, len(t.cols))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return TableReport{}, err
		}
		if err := addRow(&c, raw, t); err != nil {
			return TableReport{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return TableReport{}, err
	}
	return TableReport{Name: t.name, Rows: c.rows, SHA256: hex.EncodeToString(c.h.Sum(nil))}, nil
}

// pgChecksum reads table t from PostgreSQL in canonical form.
func pgChecksum(ctx context.Context, tx *Tx, t copyTable) (TableReport, error) {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = c
		if k := t.kinds[i]; k == kJSON || k == kJSONB || k == kOptJSONB {
			cols[i] = c + "::text"
		}
	}
	order := t.order
	if t.pgOrder != "" {
		order = t.pgOrder
	}
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+t.name+` ORDER BY `+order)
	if err != nil {
		return TableReport{}, runtimeError(err)
	}
	defer rows.Close()
	c := checksum{h: sha256.New()}
	for rows.Next() {
		raw, err := rows.Values()
		if err != nil {
			return TableReport{}, err
		}
		if err := addRow(&c, raw, t); err != nil {
			return TableReport{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return TableReport{}, runtimeError(err)
	}
	return TableReport{Name: t.name, Rows: c.rows, SHA256: hex.EncodeToString(c.h.Sum(nil))}, nil
}

// addRow adds one row's canonical values to c.
func addRow(c *checksum, raw []any, t copyTable) error {
	vals := make([]string, len(raw))
	for i, v := range raw {
		s, err := canonical(v, t.kinds[i])
		if err != nil {
			return fmt.Errorf("column %s: %w", t.cols[i], err)
		}
		vals[i] = s
	}
	c.add(vals)
	return nil
}
