package lab_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
)

// labName is unique per test process, so parallel runs by others don't clash.
func labName(tag string) string { return fmt.Sprintf("vt%s%d", tag, os.Getpid()%100000) }

// MustPing pings dst from namespace ns (optionally from address src) and
// reports whether any reply came back.
func ping(ctx context.Context, l *lab.Lab, ns string, src netip.Addr, dst netip.Addr, count int) bool {
	args := []string{"ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1"}
	if src.IsValid() {
		args = append(args, "-I", src.String())
	}
	_, err := l.Exec(ctx, ns, append(args, dst.String())...)
	return err == nil
}

// lookup asks server for name's A record from inside ns, through Do.
func lookup(l *lab.Lab, ns string, server netip.Addr, name string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	err := l.Do(ns, func() error {
		c := &dns.Client{Timeout: 2 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		r, _, err := c.Exchange(m, netip.AddrPortFrom(server, kb.DNSPort).String())
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				ip, _ := netip.AddrFromSlice(a.A.To4())
				addrs = append(addrs, ip)
			}
		}
		return nil
	})
	return addrs, err
}

// dialTLS connects to the front-end on 443 from ns and completes a TLS handshake.
func dialTLS(l *lab.Lab, ns string) error {
	return l.Do(ns, func() error {
		d := &net.Dialer{Timeout: 3 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", netip.AddrPortFrom(lab.FrontEndAddr, kb.HTTPSPort).String(),
			&tls.Config{ServerName: lab.FrontEndFQDN, InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func TestLabBaseline(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	l := lab.Up(ctx, t, lab.Options{Name: labName("b")})
	t.Logf("lab up in %v", time.Since(t0).Round(time.Millisecond))

	for _, gw := range []lab.Gateway{lab.CustomerGateway, lab.CloudGateway} {
		s, err := l.SAs(ctx, gw)
		if err != nil {
			t.Fatal(err)
		}
		child := lab.CustomerChild
		if gw == lab.CloudGateway {
			child = lab.CloudChild
		}
		if !s.Up(child) || s.Encap != "TUNNEL-in-UDP" {
			t.Errorf("%s: want ESTABLISHED/INSTALLED TUNNEL-in-UDP, got %+v\n%s", gw, s, s.Raw)
		}
	}
	if !ping(ctx, l, l.NS.LAN, netip.Addr{}, lab.CloudDNSAddr, 3) {
		t.Error("LAN host cannot ping the cloud DNS server through the tunnel")
	}
	if ping(ctx, l, l.NS.LAN, netip.Addr{}, lab.FrontEndAddr, 2) {
		t.Error("front-end answered ping; it must drop ICMP")
	}
	if err := dialTLS(l, l.NS.LAN); err != nil {
		t.Errorf("TLS to the front-end on 443: %v", err)
	}
	got, err := lookup(l, l.NS.LAN, lab.ResolverAddr, lab.FrontEndFQDN)
	if err != nil || len(got) != 1 || got[0] != lab.FrontEndAddr {
		t.Errorf("internal resolver: %s = %v, %v; want %v", lab.FrontEndFQDN, got, err, lab.FrontEndAddr)
	}
	for _, gw := range []lab.Gateway{lab.CustomerGateway, lab.CloudGateway} {
		conf, err := l.Config(gw)
		if err != nil || !strings.Contains(conf, "version = 2") || !strings.Contains(conf, "28800s") {
			t.Errorf("%s swanctl.conf: %v\n%s", gw, err, conf)
		}
		if b, err := os.ReadFile(l.CharonLog(gw)); err != nil || !strings.Contains(string(b), "remote host is behind NAT") && gw == lab.CustomerGateway {
			t.Errorf("%s charon log: %v", gw, err)
		}
	}
	if err := l.Site().Validate(); err != nil {
		t.Errorf("site profile: %v", err)
	}
}
