package slack

import (
	"context"

	"github.com/vpndiag/vpndiag"
)

// Site profiles belong to the Slack channels that set them up
// (vpndiag.Site.Channels): only those channels read, change or use them.

// onlyUsable returns the only site of sites that channel may use, or nil
// when there is none or more than one.
func onlyUsable(sites []*vpndiag.Site, channel string) *vpndiag.Site {
	var only *vpndiag.Site
	for _, s := range sites {
		if !s.UsableIn(channel) {
			continue
		}
		if only != nil {
			return nil
		}
		only = s
	}
	return only
}

// siteUsable refuses a case whose site profile the case's channel may not
// use (its channels changed since the case was opened).
func (b *Bot) siteUsable(ctx context.Context, cs *vpndiag.Case) error {
	if cs.SiteID == 0 {
		return nil
	}
	s, err := b.deps.Sites.FindSiteByID(ctx, cs.SiteID)
	if err != nil {
		return err
	}
	if !s.UsableIn(cs.ChannelID) {
		return siteOfAnotherChannel(s.Name)
	}
	return nil
}

// siteOfAnotherChannel refuses a site profile set up in another channel.
func siteOfAnotherChannel(name string) error {
	return vpndiag.Errorf(vpndiag.EFORBIDDEN, "Site profile %q belongs to another channel; set up a profile of your own here.", name)
}
