package vpndiag_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
)

// TestPathStep: a path is stored as a JSON array of "flow:state" strings,
// as sessions were stored before the type existed; bare states (sessions
// from before hand-overs) still load and take the session's flow.
func TestPathStep(t *testing.T) {
	tests := []struct {
		text string
		want vpndiag.PathStep
		in   vpndiag.PathStep // In("triage")
	}{
		{"triage:symptom", vpndiag.PathStep{Flow: "triage", State: "symptom"}, vpndiag.PathStep{Flow: "triage", State: "symptom"}},
		{"stability:pattern", vpndiag.PathStep{Flow: "stability", State: "pattern"}, vpndiag.PathStep{Flow: "stability", State: "pattern"}},
		{"start", vpndiag.PathStep{State: "start"}, vpndiag.PathStep{Flow: "triage", State: "start"}},
		{"dns:", vpndiag.PathStep{Flow: "dns"}, vpndiag.PathStep{Flow: "dns"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := vpndiag.ParsePathStep(tt.text)
			if got != tt.want {
				t.Fatalf("ParsePathStep(%q) = %#v, want %#v", tt.text, got, tt.want)
			}
			if s := got.String(); s != tt.text {
				t.Errorf("String() = %q, want %q", s, tt.text)
			}
			if in := got.In("triage"); in != tt.in {
				t.Errorf("In(triage) = %#v, want %#v", in, tt.in)
			}
		})
	}
}

func TestSessionPathJSON(t *testing.T) {
	stored := `{"case_id":1,"flow":"stability","flow_version":2,"state":"pattern","seq":2,"path":["start","triage:symptom","stability:pattern"],"updated_at":"0001-01-01T00:00:00Z"}`
	var s vpndiag.Session
	if err := json.Unmarshal([]byte(stored), &s); err != nil {
		t.Fatal(err)
	}
	want := vpndiag.Path{{State: "start"}, {Flow: "triage", State: "symptom"}, {Flow: "stability", State: "pattern"}}
	if !reflect.DeepEqual(s.Path, want) {
		t.Fatalf("Path = %#v, want %#v", s.Path, want)
	}
	if got := s.Path.Join(" → "); got != "start → triage:symptom → stability:pattern" {
		t.Errorf("Join = %q", got)
	}
	out, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != stored {
		t.Errorf("re-encoded session differs from the stored row:\n got %s\nwant %s", out, stored)
	}
}
