// Package bundle writes and verifies a case's support bundle: one zip
// archive that a support engineer opens without our tool, holding the
// manifest (every file with its size and SHA-256), a Markdown summary, a
// self-contained HTML report, the case's timeline, answers, findings and
// probe results as JSON, and the redacted evidence as stored.
//
// The exporter only reads the case, through the root service interfaces; it
// streams every file into the archive (evidence is copied as the stored raw
// DEFLATE stream, not recompressed) and writes manifest.json last, once every
// checksum is known. The same case exported twice at the same time gives the
// same bytes. See README.md for the format and why it is a zip.
package bundle

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Schema identifies the bundle format in manifest.json.
const (
	// SchemaName is the manifest's "schema" value.
	SchemaName = "vpndiag-bundle"
	// SchemaVersion is the manifest's "schema_version"; Verify accepts
	// bundles of this version only.
	SchemaVersion = 1
)

// Names of the files every bundle holds.
const (
	ManifestName = "manifest.json"
	SummaryName  = "summary.md"
	ReportName   = "report.html"
	TimelineName = "timeline.json"
	AnswersName  = "answers.json"
	FindingsName = "findings.json"
	// KeepaliveName holds the keep-alive samples, when the case has any.
	KeepaliveName = "probes/keepalive.json"
	// ProbesDir holds one NNN-KIND.json per probe result, in stored order.
	ProbesDir = "probes/"
	// EvidenceDir holds the redacted attachments, by upload name.
	EvidenceDir = "evidence/"
)

// requiredFiles are listed in every manifest.
var requiredFiles = []string{SummaryName, ReportName, TimelineName, AnswersName, FindingsName}

// Manifest is manifest.json: what the bundle is and every other file in it.
type Manifest struct {
	// Schema is SchemaName.
	Schema string `json:"schema"`
	// SchemaVersion is SchemaVersion.
	SchemaVersion int `json:"schema_version"`
	// Case is the case marker, e.g. VPN-20261125-7KQ2.
	Case string `json:"case"`
	// CreatedAt is the export time.
	CreatedAt time.Time `json:"created_at"`
	// Tool is the program that wrote the bundle.
	Tool Tool `json:"tool"`
	// Title is the symptom the case was opened with.
	Title string `json:"title"`
	// Status is the case's status at export.
	Status vpndiag.CaseStatus `json:"status"`
	// InProgress is true when the case was still open: the bundle holds
	// what the case had at export time.
	InProgress bool `json:"in_progress"`
	// Resolution and KBArticle repeat the case's outcome, when it has one.
	Resolution string `json:"resolution,omitempty"`
	KBArticle  string `json:"kb_article,omitempty"`
	// CaseCreatedAt is when the case was opened.
	CaseCreatedAt time.Time `json:"case_created_at"`
	// Site is the site profile, reduced to what support needs.
	Site *Site `json:"site,omitempty"`
	// Files lists every file of the bundle except manifest.json, in archive
	// order.
	Files []File `json:"files"`
}

// Tool names the program that wrote a bundle.
type Tool struct {
	// Name is "vpndiag".
	Name string `json:"name"`
	// Version is vpndiag.Version.
	Version string `json:"version"`
	// Commit is vpndiag.Commit, when known.
	Commit string `json:"commit,omitempty"`
}

// File is one file of a bundle.
type File struct {
	// Name is the path inside the archive, with forward slashes.
	Name string `json:"name"`
	// Size is the uncompressed size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the uncompressed content.
	SHA256 string `json:"sha256"`
	// MediaType is the content type, e.g. application/json.
	MediaType string `json:"media_type"`
	// Evidence describes an attachment; nil for generated files.
	Evidence *EvidenceInfo `json:"evidence,omitempty"`
}

// EvidenceInfo describes an attachment: where it came from and how much of
// it was redacted.
type EvidenceInfo struct {
	// Name is the file name as uploaded (the archive name may differ when
	// two uploads had the same name).
	Name string `json:"name"`
	// Kind is config, log or other.
	Kind vpndiag.EvidenceKind `json:"kind"`
	// Vendor is the detected device vendor and format.
	Vendor string `json:"vendor,omitempty"`
	// (The size and SHA-256 are those of the file in the bundle: the
	// redacted content as stored. Nothing describes the upload before
	// redaction: its checksum would let anyone with the bundle test
	// guesses of a redacted secret offline, and its size would tell the
	// secret's length.)
	// Redactions counts the secrets replaced before the file was stored.
	Redactions int `json:"redactions"`
	// UploadedBy and UploadedAt say who attached it and when.
	UploadedBy string    `json:"uploaded_by"`
	UploadedAt time.Time `json:"uploaded_at"`
}

// Site is the part of a site profile a bundle carries. It is an explicit
// allow-list, so a field added to vpndiag.Site later (a secret, say) does
// not reach a bundle unless it is added here on purpose.
type Site struct {
	Name              string   `json:"name"`
	CloudDNSServers   []string `json:"cloud_dns_servers"`
	VPNEndpoints      []string `json:"vpn_endpoints"`
	CloudCIDR         string   `json:"cloud_cidr,omitempty"`
	EnvironmentFQDNs  []string `json:"environment_fqdns"`
	CloudDomain       string   `json:"cloud_domain,omitempty"`
	CustomerCIDRs     []string `json:"customer_cidrs"`
	InternalResolvers []string `json:"internal_resolvers,omitempty"`
	CustomerPeer      string   `json:"customer_peer,omitempty"`
	Routing           string   `json:"routing,omitempty"`
	IKEVersion        int      `json:"ike_version,omitempty"`
	Only443           bool     `json:"only_443"`
	ConsoleVersion    string   `json:"console_version,omitempty"`
}

// siteOf reduces a site profile to what a bundle carries.
func siteOf(s *vpndiag.Site) *Site {
	if s == nil {
		return nil
	}
	strs := func(n int, f func(int) string) []string {
		out := make([]string, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, f(i))
		}
		return out
	}
	out := &Site{
		Name:              s.Name,
		CloudDNSServers:   strs(len(s.CloudDNSServers), func(i int) string { return s.CloudDNSServers[i].String() }),
		VPNEndpoints:      strs(len(s.VPNEndpoints), func(i int) string { return s.VPNEndpoints[i].String() }),
		EnvironmentFQDNs:  append([]string{}, s.EnvironmentFQDNs...),
		CloudDomain:       s.CloudDomain,
		CustomerCIDRs:     strs(len(s.CustomerCIDRs), func(i int) string { return s.CustomerCIDRs[i].String() }),
		InternalResolvers: strs(len(s.InternalResolvers), func(i int) string { return s.InternalResolvers[i].String() }),
		Routing:           string(s.Routing),
		IKEVersion:        s.IKEVersion,
		Only443:           s.Only443,
		ConsoleVersion:    s.ConsoleVersion,
	}
	if s.CloudCIDR.IsValid() {
		out.CloudCIDR = s.CloudCIDR.String()
	}
	if s.CustomerPeer.IsValid() {
		out.CustomerPeer = s.CustomerPeer.String()
	}
	if len(out.InternalResolvers) == 0 {
		out.InternalResolvers = nil
	}
	return out
}

// GraphFunc returns the graph of a flow at a version (0: the version is not
// known, use the current one), for the diagram; false when the flow is not
// known (the report then lists the path without a diagram).
type GraphFunc func(flow string, version int) (vpndiag.FlowGraph, bool)

// Exporter writes support bundles. Every service is required except Graph.
type Exporter struct {
	Cases    vpndiag.CaseService
	Sessions vpndiag.SessionService
	Events   vpndiag.EventService
	Probes   vpndiag.ProbeService
	Evidence vpndiag.EvidenceService
	Findings vpndiag.FindingService
	Sites    vpndiag.SiteService
	// Graph returns a flow's graph for the diagram; nil leaves it out.
	Graph GraphFunc
	// Now is the export time (vpndiag.Now when nil); tests fix it.
	Now vpndiag.Clock
	// SigningKey, when set, signs every bundle (see SignatureName), so
	// that Verify with its public key proves where a bundle came from.
	SigningKey ed25519.PrivateKey
}

// Result is what an export wrote.
type Result struct {
	// Marker is the case marker.
	Marker string
	// Path is the bundle's file, for ExportFile.
	Path string
	// Size is the archive's size in bytes.
	Size int64
	// Manifest is the bundle's manifest.
	Manifest *Manifest
}

// NormalizeMarker returns marker in canonical form (upper case, trimmed), or
// an EINVALID error naming the expected form.
func NormalizeMarker(marker string) (string, error) {
	m := strings.ToUpper(strings.TrimSpace(marker))
	if !vpndiag.MarkerPattern.MatchString(m) {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not a case marker; a marker looks like VPN-20261125-7KQ2.", marker)
	}
	return m, nil
}

// Export writes the bundle of the case with the given marker to w. It only
// reads the case. On error, w holds a partial archive: write to a file with
// ExportFile to leave nothing behind.
func (x *Exporter) Export(ctx context.Context, marker string, w io.Writer) (*Result, error) {
	if err := x.check(); err != nil {
		return nil, err
	}
	m, err := NormalizeMarker(marker)
	if err != nil {
		return nil, err
	}
	now := vpndiag.Now
	if x.Now != nil {
		now = x.Now
	}
	d, err := x.load(ctx, m)
	if err != nil {
		return nil, err
	}
	d.created = now().UTC()
	cw := &countWriter{w: w}
	man, err := x.write(ctx, d, cw)
	if err != nil {
		return nil, err
	}
	return &Result{Marker: m, Size: cw.n, Manifest: man}, nil
}

func (x *Exporter) check() error {
	var missing []string
	for name, ok := range map[string]bool{
		"Cases": x.Cases != nil, "Sessions": x.Sessions != nil, "Events": x.Events != nil,
		"Probes": x.Probes != nil, "Evidence": x.Evidence != nil, "Findings": x.Findings != nil, "Sites": x.Sites != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("bundle: exporter is missing services %v", missing)
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
