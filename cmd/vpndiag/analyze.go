package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/evidence/redact"
)

// analyzeOutput is the JSON output of vpndiag analyze.
type analyzeOutput struct {
	// Files are the reports, in the order given.
	Files []*evidence.Report `json:"files"`
	// CrossFindings come from several files together.
	CrossFindings []*vpndiag.Finding `json:"cross_findings,omitempty"`
	// Errors are the files that could not be read.
	Errors []analyzeError `json:"errors,omitempty"`
}

type analyzeError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

func (m *Main) runAnalyze(ctx context.Context, args []string) error {
	fs := m.flagSet("analyze", "FILE… [--site PROFILE.yaml] [--format json]", `
Check VPN device configurations and logs against the guide's requirements
and print the findings, worst first, each with the file and line it comes
from. The vendor and format are detected from the content: strongSwan
(swanctl.conf, ipsec.conf, ipsec.secrets), libreswan, Cisco ASA and IOS,
FortiGate, Juniper SRX, Palo Alto, pfSense, MikroTik RouterOS, cloud sample
configurations, and their logs. Lifetimes are compared as hard lifetimes
(when the SA expires), proposals with what the cloud accepts (the site
profile's phase1/phase2 lists, else the cloud's published set).

Secrets (pre-shared keys, passwords, keys, certificates, tokens) are
redacted before anything is printed. --site checks peers, IKE version and
networks against a site profile (the YAML of one entry of the config's
sites:). Exit status 1 when a file could not be read; findings alone do not
change it.`)
	site := fs.String("site", "", "site profile YAML file to check peers, IKE version and networks against")
	format := fs.String("format", "text", "output format: text or json")
	obfuscate := fs.Bool("obfuscate", false, "also replace public IP addresses and host names in the output")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat("analyze", *format); err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("analyze: no FILE given (see vpndiag analyze --help)")
	}
	var prof *vpndiag.Site
	if *site != "" {
		var err error
		if prof, err = loadSiteFile(*site); err != nil {
			return err
		}
	}
	red := redact.New(redact.Options{PublicIPs: *obfuscate, Hostnames: *obfuscate})
	out := analyzeOutput{Files: []*evidence.Report{}}
	for _, f := range files {
		rep, err := analyzeFile(ctx, f, prof, red)
		if errors.Is(err, context.Canceled) {
			return err
		}
		if err != nil {
			out.Errors = append(out.Errors, analyzeError{File: f, Error: err.Error()})
			continue
		}
		out.Files = append(out.Files, rep)
	}
	out.CrossFindings = evidence.CrossCheck(out.Files)
	if *format == "json" {
		if err := m.printJSON(out); err != nil {
			return err
		}
	} else {
		printAnalysis(m.Stdout, out, prof != nil)
	}
	for _, e := range out.Errors {
		fmt.Fprintf(m.Stderr, "vpndiag analyze: %s: %s\n", e.File, e.Error)
	}
	if len(out.Errors) > 0 {
		return vpndiag.Errorf(vpndiag.EINVALID, "%d of %d file(s) could not be read.", len(out.Errors), len(files))
	}
	return nil
}

// analyzeFile opens and analyses one file; "-" is standard input.
func analyzeFile(ctx context.Context, path string, site *vpndiag.Site, red *redact.Redactor) (*evidence.Report, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("is a directory")
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer f.Close()
	return evidence.AnalyzeWith(ctx, path, f, site, evidence.Options{Redactor: red})
}

// loadSiteFile reads one site profile in the YAML of the config's sites:
// entries (a file holding a sites: list with one entry is accepted too).
func loadSiteFile(path string) (*vpndiag.Site, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot read site profile %s: %v.", path, errors.Unwrap(err))
	}
	var wrapper struct {
		Sites []vpndiag.Site `yaml:"sites"`
	}
	if yaml.Unmarshal(data, &wrapper) == nil && len(wrapper.Sites) > 0 {
		if len(wrapper.Sites) != 1 {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "Site profile %s lists %d sites; give a file with one.", path, len(wrapper.Sites))
		}
		s := wrapper.Sites[0]
		return &s, s.Validate()
	}
	var s vpndiag.Site
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Site profile %s is not valid: %s.", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// printAnalysis writes the text report: what each file is, then every
// finding worst first with file:line, then what could not be checked.
func printAnalysis(w io.Writer, out analyzeOutput, haveSite bool) {
	var all []*vpndiag.Finding
	for _, r := range out.Files {
		fmt.Fprintf(w, "%s: %s\n", r.Name, describeReport(r))
		for _, u := range r.Understood {
			fmt.Fprintf(w, "  read: %s\n", u)
		}
		if r.Redactions > 0 {
			fmt.Fprintf(w, "  redacted: %d secret(s)\n", r.Redactions)
		}
		all = append(all, r.Findings...)
	}
	all = append(all, out.CrossFindings...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Severity.Rank() > all[j].Severity.Rank() })
	fmt.Fprintln(w)
	if len(all) == 0 {
		fmt.Fprintln(w, "No problem found in what could be checked (see below for what could not).")
	} else {
		fmt.Fprintf(w, "Findings, worst first (%d):\n", len(all))
		for _, f := range all {
			fmt.Fprintf(w, "\n[%s] %s\n  %s\n", strings.ToUpper(string(f.Severity)), f.Code, f.Summary)
			for _, e := range f.Evidence {
				if e.Line > 0 && e.Text != "" {
					fmt.Fprintf(w, "  %s:%d: %s\n", e.Name, e.Line, e.Text)
				}
			}
			if f.Detail != "" {
				fmt.Fprintf(w, "  why: %s\n", f.Detail)
			}
			if f.Fix != "" {
				fmt.Fprintf(w, "  fix: %s\n", f.Fix)
			}
		}
	}
	var notes []string
	for _, r := range out.Files {
		for _, n := range r.NotUnderstood {
			notes = append(notes, r.Name+": "+n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNot understood or not checked:\n")
		for _, n := range notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if !haveSite {
		fmt.Fprintln(w, "\nGive --site PROFILE.yaml to also check peers, IKE version and networks against the site.")
	}
}

func describeReport(r *evidence.Report) string {
	switch r.Kind {
	case vpndiag.EvidenceConfig:
		return r.Format + " configuration"
	case vpndiag.EvidenceLog:
		if r.Format == "" {
			return "log (format not recognised)"
		}
		return r.Format + " log"
	case vpndiag.EvidenceStatus:
		return r.Format + " SA status"
	}
	return "not understood"
}
