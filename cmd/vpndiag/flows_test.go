package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlowsCommand(t *testing.T) {
	mmd, err := os.ReadFile(filepath.Join("..", "..", "docs", "flows", "triage.mmd"))
	if err != nil {
		t.Fatal(err)
	}
	dot, err := os.ReadFile(filepath.Join("..", "..", "docs", "flows", "dns.dot"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"list", []string{"flows", "list"}, 0, "connectivity  v2"},
		{"show", []string{"flows", "show", "rangechange"}, 0, "console (question): Is your management console version 11.7.0 or later?"},
		{"render mermaid", []string{"flows", "render", "triage"}, 0, string(mmd)},
		{"render dot", []string{"flows", "render", "dns", "--format", "dot"}, 0, string(dot)},
		{"unknown flow", []string{"flows", "show", "nosuch"}, 1, `There is no flow "nosuch"; flows are: triage, access, configfile`},
		{"bad render format", []string{"flows", "render", "triage", "--format", "svg"}, 2, `--format "svg" must be mermaid or dot`},
		{"no action", []string{"flows"}, 2, "give list, show NAME or render NAME"},
		{"unknown action", []string{"flows", "draw", "triage"}, 2, `unknown action "draw"`},
		{"render without name", []string{"flows", "render"}, 2, "give one flow name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", r.code, tt.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
	r := MustRun(t, "", nil, "flows", "list", "--format", "json")
	var list []struct {
		Name  string
		Stats struct{ States, Events, Resolutions, Escalations int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 9 || list[0].Name != "triage" || list[0].Stats.States != 3 {
		t.Fatalf("json list: %v %+v", err, list)
	}
}
