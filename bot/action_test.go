package bot_test

import (
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
)

func TestAction_RoundTrip(t *testing.T) {
	for _, a := range []bot.Action{
		{CaseID: 1, Seq: 0, Key: "yes"},
		{CaseID: 9223372036854775807, Seq: 41, Key: "tunnel-down"},
		{CaseID: 7, Seq: 3, Key: bot.KeyInput},
		{CaseID: 7, Seq: 3, Key: "v1.2_x"},
	} {
		id := a.ID()
		if !strings.HasPrefix(id, "vd1:") {
			t.Errorf("%+v: ID %q lacks the version", a, id)
		}
		got, err := bot.ParseAction(id)
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", id, got, err, a)
		}
	}
}

func TestParseAction_Bad(t *testing.T) {
	for _, id := range []string{
		"", "a", "vd1", "vd1:1:2", "vd0:1:2:yes", "vd2:1:2:yes", "vd1:x:2:yes", "vd1:0:2:yes", "vd1:-1:2:yes",
		"vd1:1:-2:yes", "vd1:1:y:yes", "vd1:01:2:yes", "vd1:1:02:yes", "vd1:1:2:", "vd1:1:2:a:b", "vd1:1:2:has space",
		"vd1:1:2:" + strings.Repeat("k", 65), "vd1:99999999999999999999:2:yes", "vd1:1:2:<@U1>",
	} {
		if _, err := bot.ParseAction(id); vpndiag.ErrorCode(err) != vpndiag.EINVALID {
			t.Errorf("ParseAction(%q): err = %v, want EINVALID", id, err)
		}
	}
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"vd1:1:2:yes", "vd1:12:0:_input", "vd1::2:x", "a", "vd1:1:2:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		a, err := bot.ParseAction(id)
		if err != nil {
			return
		}
		if a.ID() != id {
			t.Fatalf("ParseAction(%q) = %+v, which encodes as %q", id, a, a.ID())
		}
	})
}

func TestNotRightKey(t *testing.T) {
	k := bot.NotRightKey("dns", "resolver_ok")
	if k != "_no.dns.resolver_ok" {
		t.Fatalf("key %q", k)
	}
	if got, ok := bot.ParseNotRight(k); !ok || got != "dns:resolver_ok" {
		t.Fatalf("ParseNotRight(%q) = %q, %v", k, got, ok)
	}
	for _, bad := range [][2]string{{"a.b", "c"}, {"dns", strings.Repeat("s", 70)}, {"", "x"}} {
		if k := bot.NotRightKey(bad[0], bad[1]); k != "" {
			if _, ok := bot.ParseNotRight(k); ok {
				t.Errorf("NotRightKey(%q, %q) = %q, a key that parses", bad[0], bad[1], k)
			}
		}
	}
	if _, ok := bot.ParseNotRight("_no.x"); ok {
		t.Error("a key without a state parsed")
	}
}
