package vpndiag_test

import (
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
)

func TestValidateInput(t *testing.T) {
	tests := []struct {
		kind      vpndiag.InputKind
		in, want  string
		wantError string
	}{
		{vpndiag.InputIP, " 10.20.0.2 ", "10.20.0.2", ""},
		{vpndiag.InputIP, "2001:db8::1", "2001:db8::1", ""},
		{vpndiag.InputIP, "10.20.0", "", "is not an IP address"},
		{vpndiag.InputIP, "fe80::1%eth0", "", "is not an IP address"},
		{vpndiag.InputCIDR, "10.20.0.0/16", "10.20.0.0/16", ""},
		{vpndiag.InputCIDR, "10.20.0.1/16", "", "did you mean 10.20.0.0/16?"},
		{vpndiag.InputCIDR, "10.20.0.0", "", "is not a CIDR range"},
		{vpndiag.InputFQDN, "App.Example.Cloud", "app.example.cloud", ""},
		{vpndiag.InputFQDN, "MyEnv.Example.com.", "myenv.example.com", ""},
		{vpndiag.InputFQDN, "10.0.0.1", "", "is not a DNS name"},
		{vpndiag.InputFQDN, "-bad.example", "", "is not a DNS name"},
		{vpndiag.InputFQDN, "bad_name!", "", "is not a DNS name"},
		{vpndiag.InputPort, "443", "443", ""},
		{vpndiag.InputPort, "0443", "443", ""},
		{vpndiag.InputPort, "0", "", "is not a port number"},
		{vpndiag.InputPort, "70000", "", "is not a port number"},
		{vpndiag.InputText, "  anything  ", "anything", ""},
		{vpndiag.InputText, "   ", "", "Please type an answer."},
		{vpndiag.InputText, strings.Repeat("é", vpndiag.MaxInputText), strings.Repeat("é", vpndiag.MaxInputText), ""},
		{vpndiag.InputText, strings.Repeat("x", vpndiag.MaxInputText+1), "", "too long"},
		{vpndiag.InputText, "a\xffb", "", "not valid text"},
		{"colour", "red", "", "Unknown input kind"},
	}
	for _, tt := range tests {
		got, err := vpndiag.ValidateInput(tt.kind, tt.in)
		if tt.wantError != "" {
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.wantError) {
				t.Errorf("ValidateInput(%s, %.30q) = %q, %v; want error containing %q", tt.kind, tt.in, got, err, tt.wantError)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ValidateInput(%s, %.30q) = %q, %v; want %q", tt.kind, tt.in, got, err, tt.want)
		}
	}
}
