package bot_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
)

// groups is a directory of user groups, counting lookups.
type groups struct {
	members map[string][]string
	calls   int
}

func (g *groups) UsergroupMembers(_ context.Context, id string) ([]string, error) {
	g.calls++
	ms, ok := g.members[id]
	if !ok {
		return nil, errors.New("no_such_subteam")
	}
	return ms, nil
}

func TestPolicy(t *testing.T) {
	dir := &groups{members: map[string][]string{"S0NETOPS": {"U3"}, "S0SUPPORT": {"U5"}}}
	p := &bot.Policy{
		Channels:    []string{"C1"},
		Users:       []string{"U1"},
		Usergroups:  []string{"S0NETOPS"},
		ExportUsers: []string{"U1", "S0SUPPORT"},
		Admins:      []string{"U9", "S0ADMINS", "net-team@example.com"},
		Members:     &bot.CachedMembers{Source: dir},
	}
	ctx := context.Background()
	tests := []struct {
		name, user, channel string
		diagnose, export    bool
	}{
		{"listed user", "U1", "C1", true, true},
		{"group member", "U3", "C1", true, false},
		{"export group member only", "U5", "C1", false, true},
		{"stranger", "U4", "C1", false, false},
		{"participant", "U7", "C1", false, true},
		{"listed user in another channel", "U1", "C2", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CanDiagnose(ctx, tt.user, tt.channel)
			if (err == nil) != tt.diagnose {
				t.Errorf("CanDiagnose = %v, want allowed=%v", err, tt.diagnose)
			}
			if err != nil {
				if vpndiag.ErrorCode(err) != vpndiag.EFORBIDDEN {
					t.Errorf("code %q, want forbidden", vpndiag.ErrorCode(err))
				}
				if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, "Ask <@U9> or <!subteam^S0ADMINS> or net-team@example.com for access.") {
					t.Errorf("refusal %q does not say who to ask", msg)
				}
			}
			if err := p.CanExport(ctx, tt.user, tt.channel, []string{"U7"}); (err == nil) != tt.export {
				t.Errorf("CanExport = %v, want allowed=%v", err, tt.export)
			}
		})
	}
	if dir.calls > 2 {
		t.Errorf("%d lookups of 2 groups; the cache should answer the rest", dir.calls)
	}
}

func TestPolicy_EmptyAllowsEveryone(t *testing.T) {
	var p bot.Policy
	if err := p.CanDiagnose(context.Background(), "U1", "C1"); err != nil {
		t.Fatal(err)
	}
	if err := p.CanExport(context.Background(), "U1", "C1", []string{"U1"}); err != nil {
		t.Fatal(err)
	}
	if err := p.CanExport(context.Background(), "U2", "C1", []string{"U1"}); vpndiag.ErrorCode(err) != vpndiag.EFORBIDDEN {
		t.Fatalf("a non-participant may export by default: %v", err)
	}
	p.Channels = []string{"C2"}
	err := p.CanDiagnose(context.Background(), "U1", "C1")
	if !strings.Contains(vpndiag.ErrorMessage(err), "Ask your Slack workspace admin") {
		t.Fatalf("refusal without admins: %v", err)
	}
}

func TestPolicy_GroupLookupFails(t *testing.T) {
	p := &bot.Policy{Usergroups: []string{"S0GONE"}, Members: &groups{}}
	if err := p.CanDiagnose(context.Background(), "U1", "C1"); err == nil {
		t.Fatal("a failed group lookup allowed the user")
	}
}

func TestCachedMembers_Expires(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	dir := &groups{members: map[string][]string{"S1": {"U1"}}}
	c := &bot.CachedMembers{Source: dir, TTL: time.Minute, Clock: func() time.Time { return now }}
	for range 3 {
		if _, err := c.UsergroupMembers(context.Background(), "S1"); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, err := c.UsergroupMembers(context.Background(), "S1"); err != nil {
		t.Fatal(err)
	}
	if dir.calls != 2 {
		t.Fatalf("%d lookups, want 2 (one, then one after expiry)", dir.calls)
	}
}
