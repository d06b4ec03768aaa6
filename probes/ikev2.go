package probes

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// This file encodes and parses the IKEv2 messages of the ike probe, from
// RFC 7296 section 3: the header, and the SA, KE, Nonce and Notify
// payloads. Only IKE_SA_INIT is built; parsing is defensive (every length is
// checked against what is left) because the bytes come from the network.

// IKEv2 constants (RFC 7296, IANA "IKEv2 Parameters").
const (
	ikeHeaderLen       = 28
	ikeExchangeSAInit  = 34
	ikeFlagInitiator   = 0x08
	ikeFlagResponse    = 0x20
	ikeVersion2        = 0x20
	ikePayloadNone     = 0
	ikePayloadSA       = 33
	ikePayloadKE       = 34
	ikePayloadNonce    = 40
	ikePayloadNotify   = 41
	ikePayloadVendorID = 43
	ikeProtoIKE        = 1

	ikeTransformENCR  = 1
	ikeTransformPRF   = 2
	ikeTransformINTEG = 3
	ikeTransformDH    = 4

	ikeAttrKeyLength = 14
)

// Notify message types the probe tells apart.
const (
	NotifyUnsupportedCritical = 1
	NotifyInvalidSyntax       = 7
	NotifyNoProposalChosen    = 14
	NotifyInvalidKEPayload    = 17
	NotifyAuthFailed          = 24
	NotifyCookie              = 16390
	NotifyNATSourceIP         = 16388
	NotifyNATDestinationIP    = 16389
)

var notifyNames = map[uint16]string{
	1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION", 7: "INVALID_SYNTAX",
	9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI", 14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD",
	24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED", 35: "NO_ADDITIONAL_SAS",
	36: "INTERNAL_ADDRESS_FAILURE", 37: "FAILED_CP_REQUIRED", 38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS",
	43: "TEMPORARY_FAILURE", 44: "CHILD_SA_NOT_FOUND",
	16388: "NAT_DETECTION_SOURCE_IP", 16389: "NAT_DETECTION_DESTINATION_IP", 16390: "COOKIE",
	16404: "MULTIPLE_AUTH_SUPPORTED", 16418: "SIGNATURE_HASH_ALGORITHMS", 16430: "IKEV2_FRAGMENTATION_SUPPORTED",
	16431: "SIGNATURE_HASH_ALGORITHMS", 16417: "REDIRECT_SUPPORTED",
}

// NotifyName returns the RFC name of a notify type, or its number.
func NotifyName(t uint16) string {
	if n, ok := notifyNames[t]; ok {
		return n
	}
	return "NOTIFY_" + strconv.Itoa(int(t))
}

// IKETransform is one transform of a proposal.
type IKETransform struct {
	// Type is 1 ENCR, 2 PRF, 3 INTEG, 4 DH.
	Type uint8 `json:"type"`
	// ID is the algorithm's IANA number.
	ID uint16 `json:"id"`
	// KeyLength is the key length attribute in bits (ENCR), 0 if absent.
	KeyLength uint16 `json:"key_length,omitempty"`
}

// Name is the strongSwan-style name of the transform, e.g. "aes256".
func (t IKETransform) Name() string {
	for name, a := range ikeAlgorithms {
		if a.typ == t.Type && a.id == t.ID && a.keyLen == t.KeyLength {
			return name
		}
	}
	return fmt.Sprintf("type%d-id%d", t.Type, t.ID)
}

// IKEProposal is one proposal of an SA payload.
type IKEProposal struct {
	// Number is the proposal number.
	Number uint8 `json:"number"`
	// Transforms are its transforms.
	Transforms []IKETransform `json:"transforms"`
}

// String renders the proposal strongSwan-style, e.g. "aes256-sha256-modp2048".
func (p IKEProposal) String() string {
	var parts []string
	for _, t := range p.Transforms {
		if t.Type == ikeTransformPRF {
			// strongSwan names PRFs prf…; show them only when no INTEG
			// names the same hash.
			name := t.Name()
			dup := false
			for _, u := range p.Transforms {
				if u.Type == ikeTransformINTEG && "prf"+u.Name() == name {
					dup = true
				}
			}
			if dup {
				continue
			}
		}
		parts = append(parts, t.Name())
	}
	return strings.Join(parts, "-")
}

// IKENotify is a Notify payload.
type IKENotify struct {
	// Type is the notify message type.
	Type uint16 `json:"type"`
	// Name is its RFC name.
	Name string `json:"name"`
	// Data is its notification data (hex in JSON).
	Data []byte `json:"data,omitempty"`
}

// IKEMessage is a parsed IKEv2 message: the header fields and the payloads
// the probe looks at.
type IKEMessage struct {
	// SPIi and SPIr are the initiator's and responder's SPIs.
	SPIi, SPIr [8]byte
	// Version is the version byte (0x20 for IKEv2).
	Version uint8
	// Exchange is the exchange type (34 for IKE_SA_INIT).
	Exchange uint8
	// Flags are the header flags (0x08 initiator, 0x20 response).
	Flags uint8
	// MessageID is the header's message ID.
	MessageID uint32
	// Proposals are the SA payload's proposals.
	Proposals []IKEProposal
	// DHGroup is the KE payload's group, 0 when there is none.
	DHGroup uint16
	// KELen is the length of the key exchange data.
	KELen int
	// Nonce is the Nonce payload's data.
	Nonce []byte
	// Notifies are the Notify payloads, in order.
	Notifies []IKENotify
	// VendorIDs are the Vendor ID payloads' data.
	VendorIDs [][]byte
	// Other lists the types of other payloads, in order.
	Other []uint8
}

// ParseIKEMessage parses an IKEv2 message (without the non-ESP marker).
// It returns an error for anything malformed and never panics.
func ParseIKEMessage(b []byte) (*IKEMessage, error) {
	if len(b) < ikeHeaderLen {
		return nil, fmt.Errorf("ike: message of %d bytes is shorter than the %d-byte header", len(b), ikeHeaderLen)
	}
	m := &IKEMessage{Version: b[17], Exchange: b[18], Flags: b[19], MessageID: binary.BigEndian.Uint32(b[20:24])}
	copy(m.SPIi[:], b[0:8])
	copy(m.SPIr[:], b[8:16])
	if m.Version>>4 != 2 {
		return nil, fmt.Errorf("ike: version %d.%d, not 2", m.Version>>4, m.Version&0x0f)
	}
	total := int(binary.BigEndian.Uint32(b[24:28]))
	if total < ikeHeaderLen || total > len(b) {
		return nil, fmt.Errorf("ike: header length %d, message %d bytes", total, len(b))
	}
	next := b[16]
	rest := b[ikeHeaderLen:total]
	for count := 0; next != ikePayloadNone; count++ {
		if count > 64 {
			return nil, errors.New("ike: more than 64 payloads")
		}
		if len(rest) < 4 {
			return nil, fmt.Errorf("ike: payload %d truncated", next)
		}
		plen := int(binary.BigEndian.Uint16(rest[2:4]))
		if plen < 4 || plen > len(rest) {
			return nil, fmt.Errorf("ike: payload %d length %d, %d bytes left", next, plen, len(rest))
		}
		body := rest[4:plen]
		if err := m.parsePayload(next, body); err != nil {
			return nil, err
		}
		next, rest = rest[0], rest[plen:]
	}
	return m, nil
}

func (m *IKEMessage) parsePayload(typ uint8, body []byte) error {
	switch typ {
	case ikePayloadSA:
		props, err := parseProposals(body)
		if err != nil {
			return err
		}
		m.Proposals = props
	case ikePayloadKE:
		if len(body) < 4 {
			return errors.New("ike: KE payload too short")
		}
		m.DHGroup = binary.BigEndian.Uint16(body[0:2])
		m.KELen = len(body) - 4
	case ikePayloadNonce:
		m.Nonce = append([]byte(nil), body...)
	case ikePayloadNotify:
		if len(body) < 4 {
			return errors.New("ike: Notify payload too short")
		}
		spiSize := int(body[1])
		if 4+spiSize > len(body) {
			return errors.New("ike: Notify SPI past the payload")
		}
		t := binary.BigEndian.Uint16(body[2:4])
		m.Notifies = append(m.Notifies, IKENotify{Type: t, Name: NotifyName(t), Data: append([]byte(nil), body[4+spiSize:]...)})
	case ikePayloadVendorID:
		m.VendorIDs = append(m.VendorIDs, append([]byte(nil), body...))
	default:
		m.Other = append(m.Other, typ)
	}
	return nil
}

func parseProposals(b []byte) ([]IKEProposal, error) {
	var props []IKEProposal
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, errors.New("ike: proposal truncated")
		}
		last, plen := b[0], int(binary.BigEndian.Uint16(b[2:4]))
		if plen < 8 || plen > len(b) {
			return nil, fmt.Errorf("ike: proposal length %d, %d bytes left", plen, len(b))
		}
		p := IKEProposal{Number: b[4]}
		spiSize, n := int(b[6]), int(b[7])
		tb := b[8:plen]
		if spiSize > len(tb) {
			return nil, errors.New("ike: proposal SPI past the proposal")
		}
		tb = tb[spiSize:]
		for i := 0; i < n; i++ {
			if len(tb) < 8 {
				return nil, errors.New("ike: transform truncated")
			}
			tlen := int(binary.BigEndian.Uint16(tb[2:4]))
			if tlen < 8 || tlen > len(tb) {
				return nil, fmt.Errorf("ike: transform length %d, %d bytes left", tlen, len(tb))
			}
			t := IKETransform{Type: tb[4], ID: binary.BigEndian.Uint16(tb[6:8])}
			for attrs := tb[8:tlen]; len(attrs) >= 4; {
				at := binary.BigEndian.Uint16(attrs[0:2])
				if at&0x8000 != 0 { // TV format: the value is in the header
					if at&0x7fff == ikeAttrKeyLength {
						t.KeyLength = binary.BigEndian.Uint16(attrs[2:4])
					}
					attrs = attrs[4:]
					continue
				}
				alen := int(binary.BigEndian.Uint16(attrs[2:4]))
				if 4+alen > len(attrs) {
					return nil, errors.New("ike: transform attribute past the transform")
				}
				attrs = attrs[4+alen:]
			}
			p.Transforms = append(p.Transforms, t)
			tb = tb[tlen:]
		}
		props = append(props, p)
		b = b[plen:]
		if last == 0 {
			break
		}
	}
	return props, nil
}

// ikeAlgorithm is a transform by strongSwan-style name.
type ikeAlgorithm struct {
	typ    uint8
	id     uint16
	keyLen uint16
}

// ikeAlgorithms are the transforms a proposal string may name.
var ikeAlgorithms = map[string]ikeAlgorithm{
	"aes128": {ikeTransformENCR, 12, 128}, "aes192": {ikeTransformENCR, 12, 192}, "aes256": {ikeTransformENCR, 12, 256},
	"aes128gcm16": {ikeTransformENCR, 20, 128}, "aes256gcm16": {ikeTransformENCR, 20, 256},
	"3des": {ikeTransformENCR, 3, 0},
	"sha1": {ikeTransformINTEG, 2, 0}, "sha256": {ikeTransformINTEG, 12, 0}, "sha384": {ikeTransformINTEG, 13, 0}, "sha512": {ikeTransformINTEG, 14, 0},
	"prfsha1": {ikeTransformPRF, 2, 0}, "prfsha256": {ikeTransformPRF, 5, 0}, "prfsha384": {ikeTransformPRF, 6, 0}, "prfsha512": {ikeTransformPRF, 7, 0},
	"modp1024": {ikeTransformDH, 2, 0}, "modp1536": {ikeTransformDH, 5, 0}, "modp2048": {ikeTransformDH, 14, 0},
	"modp3072": {ikeTransformDH, 15, 0}, "modp4096": {ikeTransformDH, 16, 0},
	"ecp256": {ikeTransformDH, 19, 0}, "ecp384": {ikeTransformDH, 20, 0}, "ecp521": {ikeTransformDH, 21, 0},
	"curve25519": {ikeTransformDH, 31, 0},
}

// integToPRF gives the PRF implied by an integrity algorithm, as strongSwan
// does when a proposal names no PRF.
var integToPRF = map[string]string{"sha1": "prfsha1", "sha256": "prfsha256", "sha384": "prfsha384", "sha512": "prfsha512"}

// DefaultIKEProposals are offered when the request names none: the
// algorithms cloud VPN gateways commonly accept, in one proposal per
// encryption family so that a responder can pick.
var DefaultIKEProposals = []string{
	"aes256-aes128-sha256-sha1-modp2048-ecp256-modp1024",
	"aes256gcm16-aes128gcm16-prfsha256-prfsha1-modp2048-ecp256-modp1024",
}

// ParseIKEProposal parses a strongSwan-style proposal such as
// "aes256-sha256-modp2048" (several algorithms of one kind are
// alternatives). GCM proposals need a prf…; others get the PRF of their
// integrity algorithm when they name none.
func ParseIKEProposal(s string) (IKEProposal, error) {
	var p IKEProposal
	seen := map[uint8]bool{}
	for _, tok := range strings.Split(strings.ToLower(strings.TrimSpace(s)), "-") {
		a, ok := ikeAlgorithms[tok]
		if !ok {
			return p, fmt.Errorf("unknown algorithm %q", tok)
		}
		p.Transforms = append(p.Transforms, IKETransform{Type: a.typ, ID: a.id, KeyLength: a.keyLen})
		seen[a.typ] = true
	}
	if !seen[ikeTransformPRF] {
		for _, t := range p.Transforms {
			if t.Type == ikeTransformINTEG {
				a := ikeAlgorithms[integToPRF[t.Name()]]
				p.Transforms = append(p.Transforms, IKETransform{Type: a.typ, ID: a.id})
				seen[ikeTransformPRF] = true
			}
		}
	}
	gcm := false
	for _, t := range p.Transforms {
		gcm = gcm || (t.Type == ikeTransformENCR && t.ID == 20)
	}
	switch {
	case !seen[ikeTransformENCR]:
		return p, errors.New("no encryption algorithm")
	case !seen[ikeTransformPRF]:
		return p, errors.New("no PRF (name an integrity algorithm or a prf…)")
	case !seen[ikeTransformINTEG] && !gcm:
		return p, errors.New("no integrity algorithm")
	case seen[ikeTransformINTEG] && gcm:
		return p, errors.New("GCM takes no separate integrity algorithm")
	case !seen[ikeTransformDH]:
		return p, errors.New("no Diffie-Hellman group")
	}
	return p, nil
}

// firstDH returns the first DH group of the proposals: the KE payload's.
func firstDH(props []IKEProposal) uint16 {
	for _, p := range props {
		for _, t := range p.Transforms {
			if t.Type == ikeTransformDH {
				return t.ID
			}
		}
	}
	return 0
}

// keData returns a public value for group: a real point for the elliptic
// curve groups (responders check it is on the curve), random bytes below
// the prime for MODP groups (whose primes start with 64 one bits).
func keData(group uint16) ([]byte, error) {
	var curve ecdh.Curve
	switch group {
	case 19:
		curve = ecdh.P256()
	case 20:
		curve = ecdh.P384()
	case 21:
		curve = ecdh.P521()
	case 31:
		curve = ecdh.X25519()
	}
	if curve != nil {
		k, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		pub := k.PublicKey().Bytes()
		if group != 31 {
			pub = pub[1:] // IKE carries x||y without the 0x04 prefix
		}
		return pub, nil
	}
	size := map[uint16]int{2: 128, 5: 192, 14: 256, 15: 384, 16: 512}[group]
	if size == 0 {
		return nil, fmt.Errorf("ike: no key exchange data for group %d", group)
	}
	b := make([]byte, size)
	rand.Read(b)
	b[0] &= 0x7f
	b[size-1] |= 0x01
	return b, nil
}

// ikeSAInit is an IKE_SA_INIT request being built.
type ikeSAInit struct {
	spi       [8]byte
	proposals []IKEProposal
	group     uint16
	local     netip.AddrPort
	remote    netip.AddrPort
	cookie    []byte
}

// marshal builds the request: header, [N(COOKIE)], SA, KE, Ni,
// N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP).
func (r *ikeSAInit) marshal() ([]byte, error) {
	ke, err := keData(r.group)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	type payload struct {
		typ  uint8
		body []byte
	}
	var ps []payload
	if r.cookie != nil {
		ps = append(ps, payload{ikePayloadNotify, notifyBody(NotifyCookie, r.cookie)})
	}
	ps = append(ps,
		payload{ikePayloadSA, marshalProposals(r.proposals)},
		payload{ikePayloadKE, append(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, r.group), 0), ke...)},
		payload{ikePayloadNonce, nonce},
		payload{ikePayloadNotify, notifyBody(NotifyNATSourceIP, natHash(r.spi, r.local))},
		payload{ikePayloadNotify, notifyBody(NotifyNATDestinationIP, natHash(r.spi, r.remote))},
	)
	b := make([]byte, ikeHeaderLen, 512)
	copy(b[0:8], r.spi[:])
	b[16] = ps[0].typ
	b[17] = ikeVersion2
	b[18] = ikeExchangeSAInit
	b[19] = ikeFlagInitiator
	for i, p := range ps {
		next := uint8(ikePayloadNone)
		if i+1 < len(ps) {
			next = ps[i+1].typ
		}
		b = append(b, next, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(4+len(p.body)))
		b = append(b, p.body...)
	}
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b, nil
}

func notifyBody(t uint16, data []byte) []byte {
	b := []byte{0, 0}
	b = binary.BigEndian.AppendUint16(b, t)
	return append(b, data...)
}

// natHash is SHA1(SPIi | SPIr | IP | port) of RFC 7296 2.23 (SPIr zero).
func natHash(spi [8]byte, ap netip.AddrPort) []byte {
	h := sha1.New()
	h.Write(spi[:])
	h.Write(make([]byte, 8))
	h.Write(ap.Addr().AsSlice())
	h.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	return h.Sum(nil)
}

func marshalProposals(props []IKEProposal) []byte {
	var b []byte
	for i, p := range props {
		var tb []byte
		for j, t := range p.Transforms {
			last := uint8(3)
			if j == len(p.Transforms)-1 {
				last = 0
			}
			tlen := 8
			if t.KeyLength != 0 {
				tlen += 4
			}
			tb = append(tb, last, 0)
			tb = binary.BigEndian.AppendUint16(tb, uint16(tlen))
			tb = append(tb, t.Type, 0)
			tb = binary.BigEndian.AppendUint16(tb, t.ID)
			if t.KeyLength != 0 {
				tb = binary.BigEndian.AppendUint16(tb, 0x8000|ikeAttrKeyLength)
				tb = binary.BigEndian.AppendUint16(tb, t.KeyLength)
			}
		}
		last := uint8(2)
		if i == len(props)-1 {
			last = 0
		}
		b = append(b, last, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(8+len(tb)))
		b = append(b, uint8(i+1), ikeProtoIKE, 0, uint8(len(p.Transforms)))
		b = append(b, tb...)
	}
	return b
}
