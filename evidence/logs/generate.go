package logs

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"time"
)

// noise are ordinary strongSwan charon lines of a healthy tunnel.
var noise = []string{
	"%s vpn-gw charon: 09[NET] <aws-1|%d> received packet: from 203.0.113.10[4500] to 198.51.100.2[4500] (80 bytes)",
	"%s vpn-gw charon: 09[ENC] <aws-1|%d> parsed INFORMATIONAL request 1234 [ ]",
	"%s vpn-gw charon: 09[ENC] <aws-1|%d> generating INFORMATIONAL response 1234 [ ]",
	"%s vpn-gw charon: 09[NET] <aws-1|%d> sending packet: from 198.51.100.2[4500] to 203.0.113.10[4500] (80 bytes)",
	"%s vpn-gw charon: 12[KNL] <aws-1|%d> querying SAD entry with SPI c1a2b3c4 for usage statistics",
	"%s vpn-gw charon: 05[IKE] <aws-1|%d> sending keep alive to 203.0.113.10[4500]",
	"%s vpn-gw charon: 14[CFG] <aws-1|%d> vici client 7 requests: list-sas",
	"%s vpn-gw kernel: [%d.123456] nft: accept in=eth0 out= src=10.20.0.5 dst=10.0.1.2 proto=tcp dport=443",
}

// events are the failures the analyser knows, with the code they produce.
var events = []string{
	"%s vpn-gw charon: 13[IKE] <aws-1|%d> received AUTHENTICATION_FAILED notify error",
	"%s vpn-gw charon: 09[IKE] <aws-1|%d> received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built",
	"%s vpn-gw charon: 11[IKE] <aws-1|%d> received TS_UNACCEPTABLE notify, no CHILD_SA built",
	"%s vpn-gw charon: 07[IKE] <aws-1|%d> retransmit 2 of request with message ID 0",
}

// Generate writes about size bytes of a strongSwan charon log: healthy
// traffic with, every few thousand lines, a failure the analyser knows, and
// a DPD drop every 60 minutes of log time. seed makes it reproducible.
func Generate(w io.Writer, size int64, seed int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewSource(seed))
	t := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	lastDrop := t
	first := fmt.Sprintf("%s vpn-gw charon: 09[IKE] <aws-1|1> IKE_SA aws-1[1] established between 198.51.100.2[198.51.100.2]...203.0.113.10[203.0.113.10]\n", t.Format("Jan _2 15:04:05"))
	n, err := bw.WriteString(first)
	if err != nil {
		return err
	}
	for i := 0; int64(n) < size; i++ {
		if i%2 == 0 {
			t = t.Add(time.Second)
		}
		ts := t.Format("Jan _2 15:04:05")
		var line string
		switch {
		case t.Sub(lastDrop) >= time.Hour:
			lastDrop = t
			line = fmt.Sprintf("%s vpn-gw charon: 09[IKE] <aws-1|%d> giving up after 5 retransmits", ts, i%9+1)
		case rng.Intn(5000) == 0:
			line = fmt.Sprintf(events[rng.Intn(len(events))], ts, i%9+1)
		default:
			line = fmt.Sprintf(noise[rng.Intn(len(noise))], ts, i%9+1)
		}
		k, err := bw.WriteString(line + "\n")
		if err != nil {
			return err
		}
		n += k
	}
	return bw.Flush()
}

// GrepPattern returns the keywords as one extended regular expression, to
// time `grep -cE` on the same patterns as the analyser.
func GrepPattern() string {
	var q []string
	for _, k := range keywords {
		var b strings.Builder
		for _, c := range k {
			if strings.ContainsRune(`.[]()*+?{}|^$\`, c) {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		q = append(q, b.String())
	}
	return strings.Join(q, "|")
}
