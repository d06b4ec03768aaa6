package vpndiag_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

func TestNewMarker(t *testing.T) {
	day := time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)
	got, err := vpndiag.NewMarker(day, bytes.NewReader([]byte{0, 31, 32, 255}))
	if err != nil {
		t.Fatal(err)
	}
	if want := "VPN-20261125-0Z0Z"; got != want {
		t.Fatalf("NewMarker = %q, want %q", got, want)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		m, err := vpndiag.NewMarker(day, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !vpndiag.MarkerPattern.MatchString(m) {
			t.Fatalf("marker %q does not match %s", m, vpndiag.MarkerPattern)
		}
		if strings.ContainsAny(m[13:], "ILOU") {
			t.Fatalf("marker %q uses a letter people misread", m)
		}
		seen[m] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct markers out of 200", len(seen))
	}
	if _, err := vpndiag.NewMarker(day, bytes.NewReader([]byte{1})); err == nil {
		t.Fatal("short random source: want an error")
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     string
		message  string
		contains string
	}{
		{nil, "", "", ""},
		{vpndiag.Errorf(vpndiag.ENOTFOUND, "Case %s not found.", "VPN-20261125-AAAA"), vpndiag.ENOTFOUND, "Case VPN-20261125-AAAA not found.", ""},
		{fmt.Errorf("find case: %w", vpndiag.Errorf(vpndiag.ECONFLICT, "This step is already done.")), vpndiag.ECONFLICT, "This step is already done.", ""},
		{errors.New("sql: database is locked at /var/lib/secret/path"), vpndiag.EINTERNAL, "Internal error.", ""},
	} {
		if got := vpndiag.ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
		if got := vpndiag.ErrorMessage(tc.err); got != tc.message {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.message)
		}
	}
}

func TestSiteValidate(t *testing.T) {
	good := func() *vpndiag.Site {
		return &vpndiag.Site{
			Name:             "hq",
			CloudDNSServers:  []netip.Addr{netip.MustParseAddr("10.10.0.2")},
			VPNEndpoints:     []netip.Addr{netip.MustParseAddr("203.0.113.10")},
			CloudCIDR:        netip.MustParsePrefix("10.10.0.0/16"),
			EnvironmentFQDNs: []string{"acme-dev.example.cloud"},
			CustomerCIDRs:    []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")},
			Routing:          vpndiag.RoutingStatic,
			IKEVersion:       2,
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*vpndiag.Site)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*vpndiag.Site) {}, nil},
		{"no name", func(s *vpndiag.Site) { s.Name = "" }, []string{"name: required"}},
		{"no dns", func(s *vpndiag.Site) { s.CloudDNSServers = nil }, []string{"cloud_dns_servers"}},
		{"host bits", func(s *vpndiag.Site) { s.CloudCIDR = netip.MustParsePrefix("10.10.1.1/16") }, []string{"cloud_cidr", "did you mean 10.10.0.0/16"}},
		{"bad fqdn", func(s *vpndiag.Site) { s.EnvironmentFQDNs = []string{"bad name.example"} }, []string{"environment_fqdns[0]"}},
		{"every problem at once", func(s *vpndiag.Site) { s.Routing = "ospf"; s.IKEVersion = 3; s.Name = "" }, []string{"routing", "ike_version", "name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mutate(s)
			err := s.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(vpndiag.ErrorMessage(err), w) {
					t.Errorf("message %q does not mention %q", vpndiag.ErrorMessage(err), w)
				}
			}
		})
	}
}

func TestValidFQDN(t *testing.T) {
	for name, want := range map[string]bool{
		"example.com": true, "acme-dev.outsystemsenterprise.com.": true, "a": true,
		"": false, "10.0.0.1": false, "-bad.example": false, "bad-.example": false,
		"spa ce.example": false, strings.Repeat("a", 64) + ".example": false, "a..b": false,
	} {
		if got := vpndiag.ValidFQDN(name); got != want {
			t.Errorf("ValidFQDN(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSeverityRank(t *testing.T) {
	order := []vpndiag.Severity{"bogus", vpndiag.SeverityInfo, vpndiag.SeverityWarning, vpndiag.SeverityError, vpndiag.SeverityCritical}
	for i := 1; i < len(order); i++ {
		if order[i-1].Rank() >= order[i].Rank() {
			t.Errorf("%s ranks %d, not below %s (%d)", order[i-1], order[i-1].Rank(), order[i], order[i].Rank())
		}
	}
}
