package slack_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

// A site profile set up in one channel belongs to it: another channel can
// neither read it (setup NAME), overwrite it, nor open a case on it (and
// so run probes through its relays); the owning channel can do all three.
func TestSiteBelongsToItsChannel(t *testing.T) {
	h := MustHarness(t)
	ctx := context.Background()
	h.Command("U1", "C1", "setup acme")
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Calls("views.open")) == 1 })
	acme := "name: acme\ncloud_dns_servers: [10.20.0.2]\ncloud_cidr: 10.20.0.0/16\nrouting: static\nike_version: 2\n"
	if r := h.Interaction(h.SubmitPayload("U1", 0, acme)); r.Status != 200 || r.Body != "" {
		t.Fatalf("setup in C1: %d %s", r.Status, r.Body)
	}
	h.WaitEphemeral(1)
	s, err := h.Sites.FindSiteByName(ctx, "acme")
	if err != nil || !reflect.DeepEqual(s.Channels, []string{"C1"}) {
		t.Fatalf("stored site %+v, %v; want it owned by C1", s, err)
	}

	// Another channel: read, overwrite and start are refused.
	refused := func(what string, r Response) {
		t.Helper()
		h.Settle()
		all := r.Body
		for _, c := range h.Fake.Calls("") {
			all += "\n" + c.Form.Get("text") + string(c.JSON)
		}
		if !strings.Contains(all, `Site profile \"acme\" belongs to another channel`) && !strings.Contains(all, `Site profile "acme" belongs to another channel`) {
			t.Errorf("%s from C2 was not refused: %s", what, r.Body)
		}
	}
	refused("setup acme", h.Command("U2", "C2", "setup acme"))
	if n := len(h.Fake.Calls("views.open")); n != 1 {
		t.Fatalf("setup acme from C2 opened a modal with the profile (%d views)", n)
	}
	// C2 submits a modal of its own with the same name.
	h.Command("U2", "C2", "setup other")
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Calls("views.open")) == 2 })
	hijack := strings.Replace(acme, "10.20.0.2", "192.0.2.66", 1)
	h.Interaction(h.SubmitPayload("U2", 1, hijack))
	refused("overwrite of acme", Response{})
	if s, _ := h.Sites.FindSiteByName(ctx, "acme"); s.CloudDNSServers[0].String() != "10.20.0.2" {
		t.Fatalf("C2 overwrote C1's site: %v", s.CloudDNSServers)
	}
	refused("start site:acme", h.Command("U2", "C2", "start site:acme"))
	c2 := "C2"
	if _, n, _ := h.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &c2}); n != 0 {
		t.Fatalf("C2 opened %d cases on C1's site", n)
	}
	// A start without a site in C2 does not pick C1's only site.
	cs, _ := mustStart(t, h, "U2", "C2")
	if cs.SiteID != 0 {
		t.Fatalf("C2's case got site %d of C1", cs.SiteID)
	}
	// C1 keeps full use of it.
	cs, _ = mustStart(t, h, "U1", "C1")
	if cs.SiteID != s.ID {
		t.Fatalf("C1's case site %d, want %d", cs.SiteID, s.ID)
	}
}
