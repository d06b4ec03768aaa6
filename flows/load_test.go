package flows_test

import (
	"errors"
	"flag"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/probes"
)

var update = flag.Bool("update", false, "rewrite the rendered diagrams under docs/flows")

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

func TestDefaultLoads(t *testing.T) {
	set, err := flows.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"triage", "access", "configfile", "connectivity", "dns", "rangechange", "stability", "support", "tunnel"}
	if got := strings.Join(set.Names(), ","); got != strings.Join(want, ",") {
		t.Fatalf("names = %s", got)
	}
}

// TestEveryArticleIsCited: each kb article is cited by a terminal step of
// some flow, so every section of the guide ends somewhere.
func TestEveryArticleIsCited(t *testing.T) {
	set := flows.Default()
	cited := map[string]bool{}
	for _, name := range set.Names() {
		def, _ := set.Current(name)
		for _, st := range def.States {
			if st.Kind.Terminal() {
				cited[st.KB] = true
			}
		}
	}
	for _, slug := range kb.Slugs {
		if !cited[slug] {
			t.Errorf("kb article %s is cited by no resolution or escalation", slug)
		}
	}
}

// TestTriageReachesEveryFlow: every flow is reachable from triage through
// hand-overs.
func TestTriageReachesEveryFlow(t *testing.T) {
	set := flows.Default()
	seen := map[string]bool{flows.TriageFlow: true}
	queue := []string{flows.TriageFlow}
	for len(queue) > 0 {
		def, _ := set.Current(queue[0])
		queue = queue[1:]
		for _, e := range def.Graph().Edges {
			if name, ok := strings.CutPrefix(e.To, "@"); ok && !seen[strings.Split(name, ":")[0]] {
				name = strings.Split(name, ":")[0]
				seen[name] = true
				queue = append(queue, name)
			}
		}
	}
	for _, n := range set.Names() {
		if !seen[n] {
			t.Errorf("flow %s is not reachable from triage", n)
		}
	}
}

// TestLoadProblems: each broken definition is refused with a problem that
// names the flow and the state.
func TestLoadProblems(t *testing.T) {
	base := `name: f
version: 1
title: t
guide: ["Further assistance"]
start: a
states:
`
	end := `  done:
    kind: resolution
    title: Done
    kb: reset-tunnels
`
	tests := []struct {
		name   string
		states string
		want   string
	}{
		{"unreachable state", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: done}]
  orphan:
    kind: resolution
    title: O
    kb: reset-tunnels
` + end, `flow "f" v1: state "orphan": not reachable from the start state "a"`},
		{"one choice", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}]
` + end, `state "a": a question needs 2 or more choices, has 1`},
		{"choice to nowhere", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: missing}]
` + end, `state "a": choice "y" leads to undefined state "missing"`},
		{"resolution without kb", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: r}]
  r:
    kind: resolution
    title: R
` + end, `state "r": a resolution must cite a kb article`},
		{"unknown kb", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: r}]
  r:
    kind: resolution
    title: R
    kb: no-such-article
` + end, `state "r": cites kb article "no-such-article", which does not exist`},
		{"dead end loop", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: b}]
  b:
    kind: info
    title: B
    next: c
  c:
    kind: info
    title: C
    next: b
` + end, `state "b": dead end`},
		{"input without next", `  a:
    kind: input
    title: I
    input: {kind: ip, var: x}
` + end, `state "a": next leads nowhere`},
		{"bad input kind", `  a:
    kind: input
    title: I
    input: {kind: mac, var: x}
    next: done
` + end, `input kind "mac" must be ip, cidr, fqdn, port or text`},
		{"probe outcome unmapped", `  a:
    kind: probe
    title: P
    probes: [{kind: ping, target: "{dns_server}"}]
    outcomes: [{event: up, label: Up, when: [ok], to: done}]
` + end, `state "a": probe outcome "timeout" leads nowhere`},
		{"unknown placeholder", `  a:
    kind: probe
    title: P
    probes: [{kind: ping, target: "{nope}"}]
    outcomes: [{event: up, label: Up, when: ["*"], to: done}]
` + end, `uses {nope}, which is neither`},
		{"unknown finding code", `  a:
    kind: evidence
    title: E
    evidence: {kinds: [config], hint: h}
    findings: [{event: x, label: X, codes: [no-such-code], to: done}]
    none: {label: N, to: done}
    skip: {label: S, to: done}
` + end, `code "no-such-code" is not one of kb.Codes`},
		{"evidence without skip", `  a:
    kind: evidence
    title: E
    evidence: {kinds: [config], hint: h}
    none: {label: N, to: done}
` + end, `an evidence step needs skip`},
		{"hand-over to unknown flow", `  a:
    kind: question
    title: Q
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: "@nope"}]
` + end, `choice "y" hands over to unknown flow "nope"`},
		{"unknown kind", `  a:
    kind: poll
    title: Q
` + end, `state "a": unknown kind "poll"`},
		{"auto rule on a non-choice", `  a:
    kind: question
    title: Q
    auto: [{fact: routing, map: {static: z}}]
    choices: [{key: x, label: X, to: done}, {key: y, label: Y, to: done}]
` + end, `auto[0]: map "static" → "z" is not a choice`},
		{"terminal with exits", `  a:
    kind: resolution
    title: R
    kb: reset-tunnels
    next: done
` + end, `a resolution is terminal: its only way on is not_fixed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flows.Load(mapFS(map[string]string{"f/flow.yaml": base + tt.states}))
			var p flows.Problems
			if !errors.As(err, &p) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("problems:\n%v\nwant one containing %q", err, tt.want)
			}
		})
	}

	files := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"name differs from folder", map[string]string{"f/flow.yaml": "name: g\nversion: 1\n"}, `flow "f": flow.yaml: name "g" must equal the folder name`},
		{"unknown field", map[string]string{"f/flow.yaml": "name: f\nversion: 1\ncolour: red\n"}, `field colour not found`},
		{"no version", map[string]string{"f/flow.yaml": "name: f\n"}, `version must be 1 or more`},
		{"old version not older", map[string]string{"f/flow.yaml": flowYAML("f", 1, "Q", "a"), "f/versions/v1.yaml": flowYAML("f", 1, "Q", "a")}, `has version 1, not older`},
		{"no flows", map[string]string{"README.md": "x"}, `no flow found`},
	}
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flows.Load(mapFS(tt.files))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestDiagrams compares the committed diagrams under docs/flows with the
// rendered flows. Regenerate with: go test ./flows -run TestDiagrams -update
// (or go generate ./flows).
func TestDiagrams(t *testing.T) {
	set := flows.Default()
	dir := filepath.Join("..", "docs", "flows")
	for _, name := range set.Names() {
		def, _ := set.Current(name)
		g := def.Graph()
		for ext, text := range map[string]string{".mmd": flows.RenderMermaid(g, nil), ".dot": flows.RenderDOT(g, nil)} {
			path := filepath.Join(dir, name+ext)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (regenerate with: go test ./flows -run TestDiagrams -update)", err)
			}
			if string(got) != text {
				t.Errorf("%s is stale: regenerate with: go test ./flows -run TestDiagrams -update", path)
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		base := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".mmd"), ".dot")
		if _, err := set.Current(base); err != nil && e.Name() != "README.md" {
			t.Errorf("%s belongs to no flow: remove it", filepath.Join(dir, e.Name()))
		}
	}
}

// TestReadmeSections: every flow folder documents what it diagnoses, its
// steps, the guide section and an example.
func TestReadmeSections(t *testing.T) {
	for _, name := range flows.Default().Names() {
		data, err := os.ReadFile(filepath.Join(name, "README.md"))
		if err != nil {
			t.Errorf("flow %s: %v", name, err)
			continue
		}
		for _, h := range []string{"## What it diagnoses", "## Steps", "## Guide section", "## Example"} {
			if !strings.Contains(string(data), "\n"+h+"\n") {
				t.Errorf("flow %s: README.md lacks a %q section", name, h)
			}
		}
	}
}

// TestEmbedCoversVersions fails when a flow keeps an older version that the
// embed pattern does not include.
func TestEmbedCoversVersions(t *testing.T) {
	matches, _ := filepath.Glob(filepath.Join("*", "versions", "*.yaml"))
	for _, m := range matches {
		if _, err := os.Stat(m); err == nil {
			if _, err := flows.FS().Open(filepath.ToSlash(m)); err != nil {
				t.Errorf("%s is not embedded: add \"*/versions/*.yaml\" to the go:embed line in flows.go", m)
			}
		}
	}
}

func TestGraphAndRender(t *testing.T) {
	g, ok := flows.Graph("triage")
	if !ok || g.Start != "symptom" || g.Nodes[0].State != "symptom" {
		t.Fatalf("graph = %+v", g)
	}
	if _, ok := flows.Graph("nosuch"); ok {
		t.Fatal("unknown flow has a graph")
	}
	s := flows.Count(g)
	if s.States != 3 || s.Events != 10 || s.Resolutions != 1 || s.Escalations != 1 {
		t.Fatalf("stats = %+v", s)
	}
	m := flows.RenderMermaid(g, vpndiag.Path{{Flow: "triage", State: "symptom"}, {Flow: "triage", State: "reset_tunnels"}, {Flow: "stability", State: "pattern"}})
	for _, want := range []string{"flowchart TD", `s_symptom{"What do you see?"}`, `to_dns>"Continue with flow dns"]`, "class s_symptom,s_reset_tunnels visited"} {
		if !strings.Contains(m, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, m)
		}
	}
	d := flows.RenderDOT(g, vpndiag.Path{{State: "reset_tunnels"}})
	if !strings.Contains(d, `"reset_tunnels" [label="The cloud cannot reset`) || !strings.Contains(d, `penwidth=3`) {
		t.Errorf("dot:\n%s", d)
	}
}

// TestProbeTemplatesAreValid expands every probe template of every flow
// with a full site profile and sample inputs and checks the request with
// the probes package, so a parameter the probe does not know fails here.
func TestProbeTemplatesAreValid(t *testing.T) {
	set := flows.Default()
	vars := map[string]string{}
	for _, name := range set.Names() {
		def, _ := set.Current(name)
		for _, st := range def.States {
			if st.Input != nil {
				vars[st.Input.Var] = sampleValue(st.Input.Kind)
			}
		}
	}
	site := testSite()
	site.InternalResolvers = []netip.Addr{netip.MustParseAddr("192.168.1.53")}
	for _, name := range set.Names() {
		def, _ := set.Current(name)
		for sname, st := range def.States {
			for i, p := range st.Probes {
				f := flows.Facts{Site: site, Vars: maps.Clone(vars)}
				f.Vars["item"] = "x"
				if p.Each != "" {
					l, _ := f.List(p.Each)
					f.Vars["item"] = l[0]
				}
				target, missing := f.Expand(p.Target)
				params := map[string]string{}
				for k, v := range p.Params {
					ev, m := f.Expand(v)
					params[k], missing = ev, append(missing, m...)
				}
				if len(missing) > 0 {
					t.Errorf("%s.%s probes[%d]: unknown %v", name, sname, i, missing)
					continue
				}
				req := &vpndiag.ProbeRequest{Kind: p.Kind, Target: target, Params: params, Timeout: p.Timeout}
				if err := probes.Validate(req); err != nil {
					t.Errorf("%s.%s probes[%d] %+v: %s", name, sname, i, req, vpndiag.ErrorMessage(err))
				}
			}
		}
	}
}
