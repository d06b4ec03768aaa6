package hardening_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// told returns the texts the bot sent user privately (ephemeral messages
// and response_url posts) since call number from.
func told(fake *slackfake.Server, from int) []string {
	var out []string
	for i, c := range fake.Calls("") {
		if i < from {
			continue
		}
		switch c.Method {
		case "chat.postEphemeral":
			out = append(out, c.Form.Get("text"))
		case "response_url":
			out = append(out, c.Form.Get("text")+string(c.JSON))
		}
	}
	return out
}

// TestAccess: users and channels outside the allow lists cannot start,
// click into, view or export a case, and a case of another channel cannot
// be reached by its marker or by a forged button.
func TestAccess(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "  allowed_channels: [CA, CB]\n  allowed_users: [UA, UB]\n  admins: [UADMIN]\n")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	cs, btns := startCase(t, sl, srv, "UA", "CA")
	settle(t, fake)
	db := MustOpenDB(t, srv.DB)
	var marker string
	if err := db.QueryRow("SELECT marker FROM cases WHERE id = ?", cs.ID).Scan(&marker); err != nil {
		t.Fatal(err)
	}
	root := sl.Root("CA")
	forged := btns[0].ActionID
	attempts := []struct {
		name string
		send func() Reply
		want string // in what the user is told
	}{
		{"outsider starts in an allowed channel", func() Reply { return sl.Command(ctx, "UX", "CA", "start") }, "not on the list"},
		{"allowed user starts in another channel", func() Reply { return sl.Command(ctx, "UA", "CZ", "start") }, "not enabled in this channel"},
		{"outsider clicks a step", func() Reply {
			return sl.Interaction(ctx, sl.ClickPayload("UX", "CA", root, btns[0].TS, forged))
		}, "not on the list"},
		{"outsider asks for the status", func() Reply { return sl.Command(ctx, "UX", "CA", "status") }, "not on the list"},
		{"outsider asks for the status by marker", func() Reply { return sl.Command(ctx, "UX", "CA", "status "+marker) }, "not on the list"},
		{"outsider exports", func() Reply { return sl.Command(ctx, "UX", "CA", "export "+marker) }, "not on the list"},
		{"outsider lists cases", func() Reply { return sl.Command(ctx, "UX", "CA", "cases") }, "not on the list"},
		{"allowed user exports the case from another channel by its marker", func() Reply { return sl.Command(ctx, "UB", "CB", "export "+marker) }, "There is no case " + marker + " in this channel"},
		{"allowed user views the case from another channel by its marker", func() Reply { return sl.Command(ctx, "UB", "CB", "status "+marker) }, "There is no case " + marker + " in this channel"},
		{"allowed user clicks a forged button of the case from another channel", func() Reply {
			return sl.Interaction(ctx, sl.ClickPayload("UB", "CB", "", btns[0].TS, forged))
		}, "don't recognise that button"},
		{"outsider exports from a channel that is not allowed", func() Reply { return sl.Command(ctx, "UX", "CZ", "export "+marker) }, "not enabled in this channel"},
	}
	before := MustCounts(t, db)
	refused := 0
	for _, a := range attempts {
		settle(t, fake)
		from := len(fake.Calls(""))
		if r := a.send(); r.Err != nil || r.Status != 200 {
			t.Errorf("%s: %d %v", a.name, r.Status, r.Err)
			continue
		}
		var got []string
		fake.WaitFor(t, 10*time.Second, "the refusal of "+a.name, func() bool {
			got = told(fake, from)
			return len(got) > 0
		})
		settle(t, fake)
		msgs := 0
		for _, c := range fake.Calls("")[from:] {
			switch c.Method {
			case "chat.postMessage", "chat.update", "files.getUploadURLExternal", "files.completeUploadExternal", "views.open":
				msgs++
			}
		}
		switch {
		case !strings.Contains(strings.Join(got, "\n"), a.want):
			t.Errorf("%s: told %q, want it to say %q", a.name, got, a.want)
		case strings.Contains(strings.Join(got, "\n"), "Waiting on"):
			t.Errorf("%s: the refusal shows the case: %q", a.name, got)
		case msgs > 0:
			t.Errorf("%s: the bot posted, updated, opened or uploaded %d times", a.name, msgs)
		default:
			refused++
		}
	}
	if d := before.DataDiff(MustCounts(t, db)); len(d) > 0 {
		t.Errorf("refused attempts changed the database: %v", d)
	}
	if n := len(fake.Uploads()); n != 0 {
		t.Errorf("%d bundles uploaded", n)
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM answers WHERE case_id = ?", cs.ID); n != 0 {
		t.Errorf("the case has %d answers after clicks by outsiders", n)
	}
	t.Logf("access: %d/%d attempts from outside the allow lists or another channel refused with a clear message; nothing stored, posted or uploaded", refused, len(attempts))
}
