package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Members lists the members of a user group (Slack: usergroups.users.list).
type Members interface {
	UsergroupMembers(ctx context.Context, group string) ([]string, error)
}

// Policy says who may diagnose and who may export, from conffile.Slack.
// Empty lists allow everyone.
type Policy struct {
	// Channels may run diagnoses; empty allows every channel.
	Channels []string
	// Users and Usergroups may run diagnoses; both empty allow every user.
	Users      []string
	Usergroups []string
	// ExportUsers may export the bundle of any case (user IDs, or user
	// group IDs starting with S), besides each case's participants.
	ExportUsers []string
	// Admins are named in refusals ("ask … for access").
	Admins []string
	// Members resolves user groups; required when a list names a group.
	Members Members
}

// CanDiagnose returns nil when user may start cases and answer steps in
// channel, and an EFORBIDDEN error that says who to ask otherwise.
func (p *Policy) CanDiagnose(ctx context.Context, user, channel string) error {
	if len(p.Channels) > 0 && !slices.Contains(p.Channels, channel) {
		return vpndiag.Errorf(vpndiag.EFORBIDDEN, "VPN diagnoses are not enabled in this channel.%s", p.ask())
	}
	if len(p.Users) == 0 && len(p.Usergroups) == 0 {
		return nil
	}
	ok, err := p.member(ctx, user, p.Users, p.Usergroups)
	if err != nil {
		return err
	}
	if !ok {
		return vpndiag.Errorf(vpndiag.EFORBIDDEN, "You are not on the list of people who may run VPN diagnoses.%s", p.ask())
	}
	return nil
}

// ChannelAllowed returns nil when diagnoses run in channel, and an
// EFORBIDDEN error that says who to ask otherwise.
func (p *Policy) ChannelAllowed(channel string) error {
	if len(p.Channels) > 0 && !slices.Contains(p.Channels, channel) {
		return vpndiag.Errorf(vpndiag.EFORBIDDEN, "VPN diagnoses are not enabled in this channel.%s", p.ask())
	}
	return nil
}

// CanExport returns nil when user may export the bundle of a case in
// channel: the case's participants (who opened it or answered in it) and
// the ExportUsers, in a channel where diagnoses run. A bundle holds a
// customer's configs and logs (redacted), so being in the channel is not
// enough.
func (p *Policy) CanExport(ctx context.Context, user, channel string, participants []string) error {
	if err := p.ChannelAllowed(channel); err != nil {
		return err
	}
	if slices.Contains(participants, user) {
		return nil
	}
	var users, groups []string
	for _, id := range p.ExportUsers {
		if strings.HasPrefix(id, "S") {
			groups = append(groups, id)
		} else {
			users = append(users, id)
		}
	}
	ok, err := p.member(ctx, user, users, groups)
	if err != nil {
		return err
	}
	if !ok {
		return vpndiag.Errorf(vpndiag.EFORBIDDEN, "You are not on the list of people who may export support bundles, and you did not take part in this case.%s", p.ask())
	}
	return nil
}

func (p *Policy) member(ctx context.Context, user string, users, groups []string) (bool, error) {
	if slices.Contains(users, user) {
		return true, nil
	}
	for _, g := range groups {
		if p.Members == nil {
			return false, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "I cannot check user group membership right now; try again in a minute.")
		}
		ms, err := p.Members.UsergroupMembers(ctx, g)
		if err != nil {
			return false, fmt.Errorf("policy: members of %s: %w", g, err)
		}
		if slices.Contains(ms, user) {
			return true, nil
		}
	}
	return false, nil
}

// ask returns " Ask <@U…> for access." naming the admins, or a generic hint.
func (p *Policy) ask() string {
	if len(p.Admins) == 0 {
		return " Ask your Slack workspace admin for access."
	}
	names := make([]string, len(p.Admins))
	for i, a := range p.Admins {
		names[i] = Mention(a)
	}
	return " Ask " + strings.Join(names, " or ") + " for access."
}

// Mention formats a Slack user or user group ID as a mention; anything else
// (a name, an e-mail address) is returned as it is.
func Mention(id string) string {
	switch {
	case len(id) > 1 && (id[0] == 'U' || id[0] == 'W') && isUpperAlnum(id):
		return "<@" + id + ">"
	case len(id) > 1 && id[0] == 'S' && isUpperAlnum(id):
		return "<!subteam^" + id + ">"
	}
	return id
}

func isUpperAlnum(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// CachedMembers caches a Members for TTL, so that a click does not cost a
// Slack API call.
type CachedMembers struct {
	// Source is asked on a miss.
	Source Members
	// TTL is how long an answer is kept; 5 minutes when zero.
	TTL time.Duration
	// Clock is the time source; vpndiag.Now when nil.
	Clock vpndiag.Clock

	mu    sync.Mutex
	cache map[string]cachedGroup
}

type cachedGroup struct {
	members []string
	at      time.Time
}

// UsergroupMembers returns the cached members of group, asking Source when
// the entry is missing or older than TTL.
func (c *CachedMembers) UsergroupMembers(ctx context.Context, group string) ([]string, error) {
	now := vpndiag.Now
	if c.Clock != nil {
		now = c.Clock
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	c.mu.Lock()
	e, ok := c.cache[group]
	c.mu.Unlock()
	if ok && now().Sub(e.at) < ttl {
		return e.members, nil
	}
	ms, err := c.Source.UsergroupMembers(ctx, group)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]cachedGroup{}
	}
	c.cache[group] = cachedGroup{members: ms, at: now()}
	c.mu.Unlock()
	return ms, nil
}
