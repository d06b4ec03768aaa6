// Package evidence analyses files a user attaches to a case — VPN device
// configurations, logs and SA status output — against the troubleshooting
// guide: it detects what a file is from its content, redacts secrets before
// anything is kept, parses configurations into a normalised model and
// checks them against the guide's rules and the site profile, reads SA
// status output (package status), analyses logs for known failures, and
// stores the redacted file with its findings and an event in one
// transaction.
package evidence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/config"
	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/evidence/redact"
	"github.com/vpndiag/vpndiag/evidence/status"
	"github.com/vpndiag/vpndiag/kb"
)

// DefaultMaxBytes caps a file when no limit is configured.
const DefaultMaxBytes = 64 << 20

// DefaultMaxParseBytes caps how much of a configuration or SA status
// output is parsed (those are held in memory whole); the rest of the file
// is still redacted and stored. Real device configurations are far smaller.
const DefaultMaxParseBytes = 8 << 20

// aheadChunk and aheadDepth size the read-ahead between redaction and
// analysis: at most (aheadDepth+1)×aheadChunk bytes in flight.
const (
	aheadChunk = 256 << 10
	aheadDepth = 4
)

// headSize is how much of a file detection looks at.
const headSize = 64 << 10

// Report is what was learnt from one file.
type Report struct {
	// Name is the file name as given.
	Name string `json:"name"`
	// Kind is config, log, status or other (not understood).
	Kind vpndiag.EvidenceKind `json:"kind"`
	// Format is the detected vendor and format, e.g. "strongswan-swanctl",
	// "strongswan-charon" or "cisco-asa-sa"; empty when not recognised.
	Format string `json:"format,omitempty"`
	// Encoding is the text encoding read: utf-8, utf-16le, utf-16be or latin-1.
	Encoding string `json:"encoding,omitempty"`
	// Understood says in a few lines what was recognised and read.
	Understood []string `json:"understood"`
	// NotUnderstood says what could not be read or checked: the report is
	// never an "all good" for what it did not see.
	NotUnderstood []string `json:"not_understood,omitempty"`
	// Config is the normalised configuration, for config files.
	Config *config.Config `json:"config,omitempty"`
	// Log is the log analysis, for log files.
	Log *logs.Result `json:"log,omitempty"`
	// Status is the SA status read, for SA status output
	// (swanctl --list-sas, show crypto ipsec sa …).
	Status *status.Status `json:"status,omitempty"`
	// Findings are worst first.
	Findings []*vpndiag.Finding `json:"findings"`
	// Redactions counts the secrets replaced.
	Redactions int `json:"redactions"`
	// Size is the size of the file as read, in bytes.
	Size int64 `json:"size"`
}

// Options tune an analysis.
type Options struct {
	// Redactor redacts the content; nil makes a new one. Share one across
	// files to share placeholders.
	Redactor *redact.Redactor
	// Redacted, when set, receives the whole redacted content (UTF-8) as
	// it is read.
	Redacted io.Writer
	// MaxConfigBytes caps how much of a configuration or status output is
	// parsed; DefaultMaxParseBytes when 0.
	MaxConfigBytes int64
}

// Analyze reads one file and reports what it is and what is wrong with it.
// site may be nil. An error is returned only when the file cannot be read;
// an empty, binary or unknown file gives a report that says so.
func Analyze(ctx context.Context, name string, r io.Reader, site *vpndiag.Site) (*Report, error) {
	return AnalyzeWith(ctx, name, r, site, Options{})
}

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func newReport(name string) *Report {
	return &Report{Name: name, Kind: vpndiag.EvidenceOther, Findings: []*vpndiag.Finding{}}
}

// AnalyzeWith is Analyze with options. It reads r once, in bounded memory
// for logs: the head is sniffed once (empty, binary, text encoding), then
// the content is decoded and redacted as it streams, and what it is is
// detected once, from the redacted head.
func AnalyzeWith(ctx context.Context, name string, r io.Reader, site *vpndiag.Site, opt Options) (*Report, error) {
	rep := newReport(name)
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, headSize)
	head, err := br.Peek(headSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("evidence: read %s: %w", name, err)
	}
	defer func() { rep.Size = cr.n }()
	if len(bytes.TrimSpace(head)) == 0 {
		rep.NotUnderstood = append(rep.NotUnderstood, "the file is empty (or only white space)")
		rep.Findings = append(rep.Findings, unknownFinding(name, "the file is empty: there is nothing to check"))
		return rep, nil
	}
	bin, enc := sniff(head)
	if bin != "" {
		rep.NotUnderstood = append(rep.NotUnderstood, "the file is "+bin+", not text")
		rep.Findings = append(rep.Findings, unknownFinding(name, "the file is "+bin+"; attach device configurations or logs as text"))
		return rep, nil
	}
	if err := analyzeText(ctx, rep, br, enc, site, opt); err != nil {
		return nil, err
	}
	return rep, nil
}

// analyzeText analyses text known to be in encoding enc: it decodes and
// redacts it as it streams (copying the redacted content to opt.Redacted),
// detects its kind once from the redacted head, and hands it to the
// configuration, status or log analysis. It reads raw to the end.
func analyzeText(ctx context.Context, rep *Report, raw io.Reader, enc string, site *vpndiag.Site, opt Options) error {
	red := opt.Redactor
	if red == nil {
		red = redact.New(redact.Options{})
	}
	maxCfg := opt.MaxConfigBytes
	if maxCfg <= 0 {
		maxCfg = DefaultMaxParseBytes
	}
	rep.Encoding = enc
	if enc != "utf-8" {
		rep.Understood = append(rep.Understood, "text encoding "+enc+", converted to UTF-8")
	}
	n0 := red.Count()
	keys := redact.NewSAKeyReader(redact.NewReader(decoder(raw, enc), red))
	var in io.Reader = keys
	if opt.Redacted != nil {
		in = io.TeeReader(in, opt.Redacted)
	}
	// Decoding and redaction run a few chunks ahead of the analysis, on a
	// core of their own.
	ahead := readAhead(in, aheadChunk, aheadDepth)
	defer ahead.Close()
	br := bufio.NewReaderSize(ahead, headSize)
	head, err := br.Peek(headSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("evidence: read %s: %w", rep.Name, err)
	}
	d := detect(head)
	switch d.kind {
	case vpndiag.EvidenceStatus:
		err = analyzeStatus(ctx, rep, br, d.format, site, maxCfg)
	case vpndiag.EvidenceConfig:
		err = analyzeConfig(ctx, rep, br, d.cands, site, maxCfg)
	default:
		err = analyzeLog(ctx, rep, br, d.family)
		if err == nil && d.family != "" && len(d.cands) > 0 {
			rep.NotUnderstood = append(rep.NotUnderstood, fmt.Sprintf("the file also looks like a %s configuration; only its log lines were analysed", d.cands[0].Format))
		}
	}
	if err != nil {
		return err
	}
	// Whatever the analysis did not read still goes through redaction to
	// opt.Redacted, and counts in the size.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("evidence: read %s: %w", rep.Name, err)
	}
	rep.Redactions = red.Count() - n0 + keys.Count()
	sortFindings(rep.Findings)
	return nil
}

func sortFindings(fs []*vpndiag.Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity.Rank() > fs[j].Severity.Rank() })
}

func unknownFinding(name, what string) *vpndiag.Finding {
	return &vpndiag.Finding{
		Code:      kb.CodeUnknownFormat,
		Severity:  vpndiag.SeverityWarning,
		Summary:   name + ": " + what,
		Detail:    fmt.Sprintf("Nothing in this file could be checked, so it says nothing about whether the VPN is configured correctly (kb: %s).", kb.ArticleFurtherAssistance),
		Fix:       "Attach the VPN part of the device configuration (e.g. show running-config, swanctl.conf, show full-configuration) or the IKE/IPsec logs as text.",
		KBArticle: kb.ArticleFurtherAssistance,
		Evidence:  []vpndiag.EvidenceRef{{Name: name}},
		Source:    "evidence/detect",
	}
}

// readParsed reads at most max bytes of in as text for a parser that holds
// it whole, noting when the file is longer.
func readParsed(rep *Report, in io.Reader, max int64) (string, error) {
	var sb strings.Builder
	n, err := io.Copy(&sb, io.LimitReader(in, max))
	if err != nil {
		return "", fmt.Errorf("evidence: read %s: %w", rep.Name, err)
	}
	if n >= max {
		rep.NotUnderstood = append(rep.NotUnderstood, fmt.Sprintf("only the first %s were parsed", sizeText(max)))
	}
	return sb.String(), nil
}

func analyzeConfig(ctx context.Context, rep *Report, in io.Reader, cands []config.Candidate, site *vpndiag.Site, max int64) error {
	rep.Kind = vpndiag.EvidenceConfig
	text, err := readParsed(rep, in, max)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	format := cands[0].Format
	rep.Format = format
	for _, m := range config.Mixed(cands) {
		rep.NotUnderstood = append(rep.NotUnderstood, fmt.Sprintf("the file also holds %s content (mixed vendors); only the %s part was read", m.Format, format))
	}
	cfg, err := config.Parse(format, text)
	if errors.Is(err, config.ErrUnsupported) {
		rep.Understood = append(rep.Understood, "recognised as "+config.Unsupported[format]+" configuration")
		rep.NotUnderstood = append(rep.NotUnderstood, config.Unsupported[format]+" configurations are recognised but not analysed")
		f := unknownFinding(rep.Name, "recognised as a "+config.Unsupported[format]+" configuration, which is not analysed")
		f.Severity = vpndiag.SeverityInfo
		rep.Findings = append(rep.Findings, f)
		return nil
	}
	if err != nil {
		return fmt.Errorf("evidence: parse %s: %w", rep.Name, err)
	}
	rep.Config = cfg
	lines := strings.Split(text, "\n")
	rep.Understood = append(rep.Understood, fmt.Sprintf("%s configuration, %d lines, %d tunnel(s)", format, len(lines), len(cfg.Tunnels)))
	for _, t := range cfg.Tunnels {
		var peers []string
		for _, p := range t.Peers {
			peers = append(peers, p.V)
		}
		rep.Understood = append(rep.Understood, fmt.Sprintf("tunnel %q (line %d), peer %s, IKEv%s", t.Name, t.Line, orDash(strings.Join(peers, ", ")), ikeV(t.IKEVersion)))
	}
	for _, n := range cfg.Notes {
		if n.Line > 0 {
			rep.NotUnderstood = append(rep.NotUnderstood, fmt.Sprintf("line %d: %s", n.Line, n.Text))
		} else {
			rep.NotUnderstood = append(rep.NotUnderstood, n.Text)
		}
	}
	if len(cfg.Tunnels) == 0 {
		rep.Findings = append(rep.Findings, NoTunnelFinding(rep.Name, format, cfg))
		return nil
	}
	fs, notChecked := CheckConfig(rep.Name, cfg, lines, site)
	rep.Findings = append(rep.Findings, fs...)
	for _, n := range notChecked {
		rep.NotUnderstood = append(rep.NotUnderstood, "not checked: "+n)
	}
	return nil
}

// analyzeStatus reads SA status output and checks it against the site.
func analyzeStatus(ctx context.Context, rep *Report, in io.Reader, format string, site *vpndiag.Site, max int64) error {
	rep.Kind = vpndiag.EvidenceStatus
	rep.Format = format
	text, err := readParsed(rep, in, max)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := status.Parse(format, text)
	if err != nil {
		return fmt.Errorf("evidence: parse %s: %w", rep.Name, err)
	}
	rep.Status = st
	up, neg := 0, 0
	for _, ike := range st.IKE {
		if ike.Up {
			up++
		}
		if ike.Negotiating {
			neg++
		}
	}
	childUp := 0
	for _, c := range st.Child {
		if c.Up {
			childUp++
		}
	}
	rep.Understood = append(rep.Understood, fmt.Sprintf("%s SA status, %d lines", format, st.Lines))
	ikeCmd, ipsecCmd := status.Commands(format)
	switch {
	case st.IKEListed && len(st.IKE) == 0 && len(st.Child) == 0:
		rep.Understood = append(rep.Understood, "no SA at all: the tunnel is down; the device's IKE log says why (attach it)")
	case st.IKEListed:
		rep.Understood = append(rep.Understood, fmt.Sprintf("%d IKE SA(s): %d up, %d negotiating", len(st.IKE), up, neg))
	default:
		rep.NotUnderstood = append(rep.NotUnderstood, "no IKE (phase 1) SA listing in this output, so whether phase 1 is up is not known"+addCommand(ikeCmd, "phase 1"))
	}
	if st.ChildListed {
		rep.Understood = append(rep.Understood, fmt.Sprintf("%d IPsec SA(s), %d up", len(st.Child), childUp))
	} else {
		rep.NotUnderstood = append(rep.NotUnderstood, "no IPsec (phase 2) SA listing in this output"+addCommand(ipsecCmd, "phase 2"))
	}
	for _, n := range st.Notes {
		rep.NotUnderstood = append(rep.NotUnderstood, n)
	}
	switch {
	case site == nil:
		rep.NotUnderstood = append(rep.NotUnderstood, "not checked: traffic selectors against the site's ranges (no site profile)")
	case len(site.VPNEndpoints) > 0 && (len(st.IKE) > 0 || len(st.Child) > 0) && !status.CloudPeerSeen(st, site):
		var eps []string
		for _, e := range site.VPNEndpoints {
			eps = append(eps, e.String())
		}
		rep.NotUnderstood = append(rep.NotUnderstood, fmt.Sprintf("no SA in this output is with the site's cloud VPN endpoints (%s): every SA was checked as if it were the cloud's; check the peer address configured on the device", strings.Join(eps, ", ")))
	}
	fs, notes := status.Check(rep.Name, st, site)
	rep.Findings = append(rep.Findings, fs...)
	rep.NotUnderstood = append(rep.NotUnderstood, notes...)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ikeV(v config.Value[int]) string {
	switch {
	case !v.Known():
		return "?"
	case v.V == 0:
		return "1/2"
	}
	return fmt.Sprint(v.V)
}

func analyzeLog(ctx context.Context, rep *Report, in io.Reader, fam string) error {
	res, err := logs.Analyze(ctx, rep.Name, in)
	if err != nil {
		return fmt.Errorf("evidence: analyse %s: %w", rep.Name, err)
	}
	rep.Log = res
	rep.Findings = append(rep.Findings, res.Findings...)
	if res.LongLines > 0 {
		rep.NotUnderstood = append(rep.NotUnderstood, fmt.Sprintf("%d line(s) longer than %d KiB were only read in part", res.LongLines, logs.MaxLine>>10))
	}
	if fam == "" && res.Family == "" {
		if len(res.Findings) == 0 {
			rep.Kind = vpndiag.EvidenceOther
			rep.NotUnderstood = append(rep.NotUnderstood, "neither a known configuration format nor a known log format")
			rep.Findings = append(rep.Findings, unknownFinding(rep.Name, "the format of this file was not recognised"))
			return nil
		}
		rep.Kind = vpndiag.EvidenceLog
		rep.NotUnderstood = append(rep.NotUnderstood, "the log format was not recognised; only known failure messages were looked for")
		rep.Understood = append(rep.Understood, fmt.Sprintf("log of %d lines", res.Lines))
		return nil
	}
	rep.Kind = vpndiag.EvidenceLog
	rep.Format = res.Family
	if rep.Format == "" {
		rep.Format = fam
	}
	span := ""
	if !res.First.IsZero() {
		span = fmt.Sprintf(", %s to %s", res.First.Format("Jan _2 15:04:05"), res.Last.Format("Jan _2 15:04:05"))
	}
	rep.Understood = append(rep.Understood, fmt.Sprintf("%s log, %d lines%s, %d examined", rep.Format, res.Lines, span, res.Matched))
	if res.NewestFirst {
		rep.Understood = append(rep.Understood, "the log is ordered newest first")
	}
	if len(res.Findings) == 0 {
		rep.NotUnderstood = append(rep.NotUnderstood, "no known failure message was found; this does not prove the tunnel is healthy (the failure may be on the other side or outside the time covered)")
	}
	return nil
}

// CrossCheck looks at several reports together (e.g. a configuration and
// a log of the same device) for what no single file shows.
func CrossCheck(reports []*Report) []*vpndiag.Finding {
	var ikev2 *Report
	var tun *config.Tunnel
	var line int
	for _, r := range reports {
		if r.Config == nil {
			continue
		}
		for _, t := range r.Config.Tunnels {
			if t.IKEVersion.Known() && t.IKEVersion.V == 2 {
				ikev2, tun, line = r, t, t.IKEVersion.Line
			}
		}
	}
	var out []*vpndiag.Finding
	for _, r := range reports {
		if r.Log == nil || r.Log.DropPeriod == 0 || ikev2 == nil {
			continue
		}
		if p := r.Log.DropPeriod; p >= kb.ChildSALifetime-5*60e9 && p <= kb.ChildSALifetime+5*60e9 {
			out = append(out, &vpndiag.Finding{
				Code:     kb.CodeIKEv2HourlyDrop,
				Severity: vpndiag.SeverityError,
				Summary:  fmt.Sprintf("%s drops the tunnel about every %s and %s uses IKEv2", r.Name, p.Round(60e9), ikev2.Name),
				Detail: fmt.Sprintf("IKEv2 tunnels whose phase 2 lifetime is %s can drop every hour when the CHILD_SA rekey collides with the cloud's (kb: %s).",
					kb.ChildSALifetime, kb.ArticleIKEv2HourlyDrop),
				Fix:       HourlyDropFix(ikev2.Config, tun),
				KBArticle: kb.ArticleIKEv2HourlyDrop,
				Evidence:  []vpndiag.EvidenceRef{{Name: ikev2.Name, Line: line}, {Name: r.Name}},
				Source:    "evidence/crosscheck",
			})
		}
	}
	return out
}

// addCommand asks for the output of the device's own command that lists
// what a status file lacks.
func addCommand(cmd, phase string) string {
	if cmd == "" {
		return "; add the output of the device's IPsec SA command to check " + phase
	}
	return fmt.Sprintf("; add the output of %s to check %s", cmd, phase)
}
