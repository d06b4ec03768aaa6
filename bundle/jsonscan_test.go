package bundle_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/bundle"
)

// TestScanJSON compares the streaming checker with encoding/json on valid
// and broken documents, and checks the "case" it returns.
func TestScanJSON(t *testing.T) {
	docs := []string{
		`{"case":"VPN-20261125-7KQ2","events":[]}`,
		`{"events":[{"a":1.5e3,"b":[true,false,null],"c":"x\"y\\u00e9\n"}],"case":"VPN-20261125-7KQ2"}`,
		` { "case" : "VPN-1" , "n" : -0.5 } `,
		`{"case":null}`, `{"case":1}`, `{}`, `{"a":{"case":"VPN-1"}}`,
		`[]`, `"x"`, `{"case":"VPN-1"`, `{"case":"VPN-1",}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`,
		`{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":1}x`, `{"a":[1,]}`, `{"a" 1}`, `{"a":"\u12G4"}`, ``,
		`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	}
	for _, d := range docs {
		c, ok, err := bundle.ScanJSON(strings.NewReader(d))
		var v map[string]any
		jerr := json.Unmarshal([]byte(d), &v)
		if (err == nil) != (jerr == nil) && !strings.Contains(d, strings.Repeat("[", 100)) {
			t.Errorf("%.60q: scan error %v, encoding/json error %v", d, err, jerr)
			continue
		}
		if err != nil {
			continue
		}
		want, wantOK := v["case"].(string)
		if c != want || ok != wantOK {
			t.Errorf("%.60q: case %q %v, want %q %v", d, c, ok, want, wantOK)
		}
	}
}
