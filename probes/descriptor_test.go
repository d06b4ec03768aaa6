package probes_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
)

// validTargets is a Target each kind accepts.
var validTargets = map[vpndiag.ProbeKind]string{
	vpndiag.ProbeDNS:        "db.example",
	vpndiag.ProbeTCP:        "127.0.0.1:443",
	vpndiag.ProbePing:       "127.0.0.1",
	vpndiag.ProbeTraceroute: "127.0.0.1",
	vpndiag.ProbeIKE:        "127.0.0.1",
	vpndiag.ProbeKeepalive:  "127.0.0.1",
}

// TestDescriptorsMatchParsers checks that each descriptor lists exactly the
// parameters its parser accepts (the parser names them when refusing an
// unknown one), so that the CLI's flags, the docs and the policy's targets
// never drift from what the probe reads.
func TestDescriptorsMatchParsers(t *testing.T) {
	listRe := regexp.MustCompile(`its parameters are (.*)\.$`)
	for _, kind := range vpndiag.ProbeKinds {
		d, err := probes.Lookup(kind)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(string(kind), func(t *testing.T) {
			if d.Summary == "" || d.Target == "" {
				t.Errorf("descriptor lacks a summary or a target description: %+v", d)
			}
			err := probes.Validate(&vpndiag.ProbeRequest{Kind: kind, Target: validTargets[kind], Params: map[string]string{"no_such_param": "1"}})
			m := listRe.FindStringSubmatch(vpndiag.ErrorMessage(err))
			if m == nil {
				t.Fatalf("an unknown parameter was not refused with the list of parameters: %v", err)
			}
			parsed := strings.Split(m[1], ", ")
			var declared []string
			for _, p := range d.Params {
				declared = append(declared, p.Key)
			}
			slices.Sort(parsed)
			slices.Sort(declared)
			if !slices.Equal(parsed, declared) {
				t.Errorf("the parser reads %v, the descriptor declares %v", parsed, declared)
			}
		})
	}
}

// TestDocumentsEveryParam checks that the package documentation describes
// every parameter of every kind.
func TestDocumentsEveryParam(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range vpndiag.ProbeKinds {
		d, _ := probes.Lookup(kind)
		if !strings.Contains(string(doc), "// "+string(kind)+":") {
			t.Errorf("doc.go has no section for the %s probe", kind)
		}
		for _, p := range d.Params {
			if !strings.Contains(string(doc), p.Key+":") {
				t.Errorf("doc.go does not describe the %s probe's %s parameter", kind, p.Key)
			}
		}
	}
}

func TestLookupUnknownKind(t *testing.T) {
	_, err := probes.Lookup("smtp")
	if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), "dns") {
		t.Fatalf("Lookup(smtp) = %v, want EINVALID listing the kinds", err)
	}
}
