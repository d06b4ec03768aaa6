package terminal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
)

// site returns the site profile named by arg: a YAML file (saved under
// its name, replacing a profile of the same name) or a saved profile's name.
func (r *Runner) site(ctx context.Context, arg string) (*vpndiag.Site, error) {
	ext := strings.ToLower(filepath.Ext(arg))
	if ext == ".yaml" || ext == ".yml" || strings.ContainsRune(arg, os.PathSeparator) {
		s, err := ReadSiteFile(arg)
		if err != nil {
			return nil, err
		}
		if err := r.Services.Sites.UpsertSite(ctx, s); err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := r.Services.Sites.FindSiteByName(ctx, arg)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no saved site profile %q (saved: %s). Pass a YAML file with --site to save one.", arg, r.siteNames(ctx))
	}
	return s, err
}

func (r *Runner) siteNames(ctx context.Context) string {
	sites, err := r.Services.Sites.FindSites(ctx)
	if err != nil || len(sites) == 0 {
		return "none"
	}
	var names []string
	for _, s := range sites {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// ReadSiteFile reads and validates a site profile in YAML (the form of the
// config file's sites entries). Unknown fields are errors that name them.
func ReadSiteFile(path string) (*vpndiag.Site, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot read the site profile %s: %v.", path, errors.Unwrap(err))
	}
	var s vpndiag.Site
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The site profile %s is not valid YAML: %s.", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// askSite asks, once per new case at a terminal, which site the case is
// about: a saved profile, a new one (asked field by field and saved), or
// none.
func (r *Runner) askSite(ctx context.Context, in *lines) (*vpndiag.Site, error) {
	sites, err := r.Services.Sites.FindSites(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(r.Out, "\nWhich site is this about? A site profile answers the questions it already knows.")
	for i, s := range sites {
		fmt.Fprintf(r.Out, "  %d. %s\n", i+1, s.Name)
	}
	fmt.Fprintln(r.Out, "  Type a saved site's number or name, a new name to describe a new site, or press Enter to skip.")
	for {
		line, err := r.prompt(in)
		if err != nil || line == "" {
			return nil, err
		}
		if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(sites) {
			return sites[n-1], nil
		}
		for _, s := range sites {
			if s.Name == line {
				return s, nil
			}
		}
		s := &vpndiag.Site{Name: line}
		if err := s.Validate(); err != nil && strings.Contains(vpndiag.ErrorMessage(err), "name:") {
			fmt.Fprintf(r.Out, "  %s\n", vpndiag.ErrorMessage(err))
			continue
		}
		if err := r.askSiteFields(in, s); err != nil {
			return nil, err
		}
		if err := r.Services.Sites.UpsertSite(ctx, s); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.Out, "  Site %s saved; use it next time with --site %s.\n", s.Name, s.Name)
		return s, nil
	}
}

// askSiteFields asks each profile field, validating and asking again on
// error. Only the cloud DNS servers are required; Enter skips the others.
func (r *Runner) askSiteFields(in *lines, s *vpndiag.Site) error {
	fields := []struct {
		prompt   string
		required bool
		set      func(string) error
	}{
		{"Private IPs of the cloud DNS servers (comma-separated)", true, func(v string) (err error) {
			s.CloudDNSServers, err = addrs(v)
			return err
		}},
		{"Public IPs of the cloud VPN endpoints (comma-separated)", false, func(v string) (err error) {
			s.VPNEndpoints, err = addrs(v)
			return err
		}},
		{"The cloud's full internal range (CIDR)", false, func(v string) error {
			p, err := prefix(v)
			s.CloudCIDR = p
			return err
		}},
		{"Your internal ranges routed over the VPN (comma-separated CIDRs)", false, func(v string) error {
			for _, f := range split(v) {
				p, err := prefix(f)
				if err != nil {
					return err
				}
				s.CustomerCIDRs = append(s.CustomerCIDRs, p)
			}
			return nil
		}},
		{"Environment names (comma-separated FQDNs)", false, func(v string) error {
			for _, f := range split(v) {
				if !vpndiag.ValidFQDN(f) {
					return fmt.Errorf("%q is not a DNS name", f)
				}
				s.EnvironmentFQDNs = append(s.EnvironmentFQDNs, strings.ToLower(f))
			}
			return nil
		}},
		{"The cloud domain the conditional forwarder sends to the cloud DNS", false, func(v string) error {
			if !vpndiag.ValidFQDN(v) {
				return fmt.Errorf("%q is not a DNS name", v)
			}
			s.CloudDomain = strings.ToLower(v)
			return nil
		}},
		{"Routing: static or bgp", false, func(v string) error {
			switch strings.ToLower(v) {
			case "static", "bgp":
				s.Routing = vpndiag.Routing(strings.ToLower(v))
				return nil
			}
			return fmt.Errorf("%q must be static or bgp", v)
		}},
		{"IKE version: 1 or 2", false, func(v string) error {
			switch v {
			case "1", "2":
				s.IKEVersion, _ = strconv.Atoi(v)
				return nil
			}
			return fmt.Errorf("%q must be 1 or 2", v)
		}},
		{"Does your edition allow only TCP 443 to the environments? yes or no", false, func(v string) error {
			switch strings.ToLower(v) {
			case "yes", "y":
				s.Only443 = true
			case "no", "n":
				s.Only443 = false
			default:
				return fmt.Errorf("%q must be yes or no", v)
			}
			return nil
		}},
		{"Management console version (e.g. 11.7.0)", false, func(v string) error {
			s.ConsoleVersion = v
			return nil
		}},
	}
	for _, f := range fields {
		for {
			opt := " (Enter to skip)"
			if f.required {
				opt = ""
			}
			fmt.Fprintf(r.Out, "  %s%s\n", f.prompt, opt)
			line, err := r.prompt(in)
			if err != nil {
				return err
			}
			if line == "" && !f.required {
				break
			}
			if err := f.set(line); err != nil {
				fmt.Fprintf(r.Out, "  %v\n", err)
				continue
			}
			break
		}
	}
	return s.Validate()
}

func split(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func addrs(v string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range split(v) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", f)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one address is needed")
	}
	return out, nil
}

func prefix(v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range", v)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set; did you mean %s?", p, p.Masked())
	}
	return p, nil
}
