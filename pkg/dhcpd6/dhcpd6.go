// Package dhcpd6 is the router's stateless DHCPv6 server on the LAN (RFC
// 8415 §18.3.6, what RFC 3736 called stateless DHCPv6; RFC 7084 L-8 and
// L-10): hosts told by the router advertisements (O=1, M=0) to get "other
// configuration" send an Information-request, and the server answers with
// the DNS servers and the domain search list. It assigns no addresses.
//
// Like pkg/ra it is pure: a received Ethernet frame in, reply frames out,
// the virtual clock passed in; no goroutines, no I/O, no logging, fixed
// memory. It is not safe for concurrent use (the data plane serialises
// calls).
//
// Decisions:
//   - DNS servers and the domain list are sent whenever they are
//     configured, requested in the Option Request option or not (RFC 8415
//     §18.3.6 and §21.7 let a server include options not requested): a
//     host that forgot to ask still gets working DNS.
//   - Solicit is answered with an Advertise carrying only NoAddrsAvail, the
//     identifiers and SOL_MAX_RT of an hour (RFC 8415 §18.3.1 for a server
//     that will assign nothing, §21.24), so a host that solicits anyway
//     learns that there is nothing to get and slows down. Request, Renew,
//     Rebind, Release and Decline name bindings this server never made and
//     Confirm asks about addresses it does not manage: they are ignored
//     (RFC 8415 §18.3.3: a server that cannot judge sends no Reply).
//     Relay messages are ignored: the server serves its own link only.
//   - Input is bounded: messages up to MaxMessageLen bytes, MaxOptions
//     options; every client (by MAC) gets ClientRate replies a second
//     (bursts of ClientBurst) from a fixed table, and the server as a whole
//     GlobalRate, so a flood from ever new MACs costs a bounded amount of
//     work and no memory.
package dhcpd6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// Ports and message types (RFC 8415 §7).
const (
	ClientPort = 546
	ServerPort = 547

	msgSolicit     = 1
	msgAdvertise   = 2
	msgReply       = 7
	msgInfoRequest = 11

	optClientID     = 1
	optServerID     = 2
	optIANA         = 3
	optIATA         = 4
	optStatusCode   = 13
	optDNSServers   = 23
	optDomainList   = 24
	optIAPD         = 25
	optInfoRefresh  = 32
	optSolMaxRT     = 82
	statusNoAddrs   = 2
	maxDUIDLen      = 128
	solMaxRTAdvised = 3600
)

// Limits.
const (
	MaxMessageLen = 1500 - packet.IPv6HeaderLen - packet.UDPHeaderLen
	MaxOptions    = 128
	MaxDNS        = 8
	MaxDomains    = 8
	ClientRate    = 10  // replies per second per client MAC
	ClientBurst   = 20  //
	GlobalRate    = 200 // replies per second in all
	GlobalBurst   = 200 //
	clientSlots   = 256
	// MinInfoRefresh and DefaultInfoRefresh: RFC 8415 §21.23 (IRT_MINIMUM
	// 600 s, IRT_DEFAULT 86400 s).
	MinInfoRefresh     = 600 * time.Second
	DefaultInfoRefresh = 86400 * time.Second
)

var allServers = netip.MustParseAddr("ff02::1:2")

// Config is what the server hands out.
type Config struct {
	MAC       [6]byte    // the LAN port's MAC: the DUID-LL and the replies' source
	LinkLocal netip.Addr // the router's LAN link-local address, the replies' source
	DNS       []netip.Addr
	Domains   []string
	// InfoRefresh is the Information Refresh Time; zero means
	// DefaultInfoRefresh, at least MinInfoRefresh.
	InfoRefresh time.Duration
}

// Counters are cumulative.
type Counters struct {
	Received      uint64 // frames offered to Handle that were DHCPv6 to port 547
	Invalid       uint64 // malformed: lengths, checksum, options
	InfoRequests  uint64
	Solicits      uint64
	Ignored       uint64 // valid but not answered (other server, IA options, types we do not serve)
	Replies       uint64 // Reply and Advertise messages sent
	RateLimited   uint64 // not answered: the client's or the server's rate
	NotForServer  uint64 // frames that were not DHCPv6 client messages for this server
	ClientSlotsIn uint64 // client table slots taken over by a new MAC
}

type bucket struct {
	mac    [6]byte
	tokens float64
	last   time.Duration
	used   bool
}

// Server answers DHCPv6 client messages on one LAN port.
type Server struct {
	cfg     Config
	duid    []byte
	clients [clientSlots]bucket
	global  bucket
	cnt     Counters
	buf     []byte
}

// New checks cfg and returns a server.
func New(cfg Config) (*Server, error) {
	s := &Server{buf: make([]byte, 0, 1500), global: bucket{tokens: GlobalBurst, used: true}}
	if err := s.SetConfig(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// SetConfig replaces what the server hands out; a bad cfg changes nothing.
func (s *Server) SetConfig(cfg Config) error {
	if !cfg.LinkLocal.Is6() || !cfg.LinkLocal.IsLinkLocalUnicast() {
		return fmt.Errorf("dhcpd6: link-local address %v is not an IPv6 link-local unicast address", cfg.LinkLocal)
	}
	if len(cfg.DNS) > MaxDNS {
		return fmt.Errorf("dhcpd6: %d DNS servers, at most %d allowed", len(cfg.DNS), MaxDNS)
	}
	for _, a := range cfg.DNS {
		if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() || a.Zone() != "" {
			return fmt.Errorf("dhcpd6: DNS server %v is not an IPv6 unicast address", a)
		}
	}
	if len(cfg.Domains) > MaxDomains {
		return fmt.Errorf("dhcpd6: %d domains, at most %d allowed", len(cfg.Domains), MaxDomains)
	}
	for _, d := range cfg.Domains {
		if err := checkDomain(d); err != nil {
			return err
		}
	}
	switch {
	case cfg.InfoRefresh == 0:
		cfg.InfoRefresh = DefaultInfoRefresh
	case cfg.InfoRefresh < MinInfoRefresh:
		cfg.InfoRefresh = MinInfoRefresh
	}
	cfg.DNS = append([]netip.Addr(nil), cfg.DNS...)
	cfg.Domains = append([]string(nil), cfg.Domains...)
	s.cfg = cfg
	// DUID-LL (RFC 8415 §11.4): type 3, hardware type 1 (Ethernet), MAC.
	s.duid = append([]byte{0, 3, 0, 1}, cfg.MAC[:]...)
	return nil
}

// Config returns the configuration in force.
func (s *Server) Config() Config { return s.cfg }

// Counters returns the cumulative counters.
func (s *Server) Counters() Counters { return s.cnt }

// checkDomain accepts a host name per RFC 1123 (letters, digits, hyphens;
// labels of 1..63, the whole ≤ 253), with an optional trailing dot.
func checkDomain(d string) error {
	n := strings.TrimSuffix(d, ".")
	if n == "" || len(n) > 253 {
		return fmt.Errorf("dhcpd6: domain %q: must be 1 to 253 characters", d)
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("dhcpd6: domain %q: labels are 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen", d)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("dhcpd6: domain %q: %q is not allowed in a name", d, c)
			}
		}
	}
	return nil
}

// IsClientFrame reports whether frame is IPv6 UDP to port 547 without
// extension headers: what the data plane hands to Handle. It allocates
// nothing and checks nothing else.
func IsClientFrame(frame []byte) bool {
	const eth = packet.EthernetHeaderLen
	if len(frame) < eth+packet.IPv6HeaderLen+packet.UDPHeaderLen || frame[12] != 0x86 || frame[13] != 0xdd {
		return false
	}
	ip := frame[eth:]
	return ip[0]>>4 == 6 && ip[6] == packet.ProtoUDP && binary.BigEndian.Uint16(ip[packet.IPv6HeaderLen+2:]) == ServerPort
}

var errInvalid = errors.New("dhcpd6: invalid message")

// clientMessage is a validated client message's frame fields.
type clientMessage struct {
	srcMAC [6]byte
	src    netip.Addr
	msg    []byte
}

// parseFrame validates an Ethernet-framed DHCPv6 client message for this
// server: IPv6 from a link-local source, UDP 546→547 with a correct
// checksum, to All_DHCP_Relay_Agents_and_Servers or our link-local
// address; the message within MaxMessageLen.
func (s *Server) parseFrame(frame []byte) (clientMessage, bool) {
	const eth, hl, ul = packet.EthernetHeaderLen, packet.IPv6HeaderLen, packet.UDPHeaderLen
	if !IsClientFrame(frame) {
		return clientMessage{}, false
	}
	ip := packet.IPv6(frame[eth:])
	plen := ip.PayloadLen()
	if plen < ul+4 || hl+plen > len(ip) || plen-ul > MaxMessageLen {
		return clientMessage{}, false
	}
	src, dst := ip.SrcAddr(), ip.DstAddr()
	if !src.IsLinkLocalUnicast() || (dst != allServers && dst != s.cfg.LinkLocal) {
		return clientMessage{}, false
	}
	udp := ip[hl : hl+plen]
	if binary.BigEndian.Uint16(udp[0:]) != ClientPort || int(binary.BigEndian.Uint16(udp[4:])) != plen {
		return clientMessage{}, false
	}
	if binary.BigEndian.Uint16(udp[6:]) == 0 || packet.Fold(packet.Sum(udp, packet.PseudoHeaderSum6(ip.Src(), ip.Dst(), packet.ProtoUDP, plen))) != 0 {
		return clientMessage{}, false // IPv6 UDP needs a checksum (RFC 8200 §8.1)
	}
	return clientMessage{srcMAC: [6]byte(frame[6:12]), src: src, msg: udp[ul:]}, true
}

// options is what Handle reads from a client message.
type options struct {
	clientID, serverID []byte
	hasIA              bool
}

func parseOptions(b []byte) (options, bool) {
	var o options
	for n := 0; len(b) > 0; n++ {
		if n == MaxOptions || len(b) < 4 {
			return o, false
		}
		code, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if 4+l > len(b) {
			return o, false
		}
		v := b[4 : 4+l]
		switch code {
		case optClientID:
			if l < 2 || l > maxDUIDLen || o.clientID != nil {
				return o, false
			}
			o.clientID = v
		case optServerID:
			if l < 2 || l > maxDUIDLen || o.serverID != nil {
				return o, false
			}
			o.serverID = v
		case optIANA, optIATA, optIAPD:
			o.hasIA = true
		}
		b = b[4+l:]
	}
	return o, true
}

// Handle takes one frame received on the LAN port and appends the reply
// frame, if any, to out. Anything that is not a valid client message for
// this server is counted and changes nothing else.
func (s *Server) Handle(out [][]byte, frame []byte, now time.Duration) [][]byte {
	m, ok := s.parseFrame(frame)
	if !ok {
		s.cnt.NotForServer++
		return out
	}
	s.cnt.Received++
	msg := m.msg
	o, ok := parseOptions(msg[4:])
	if !ok {
		s.cnt.Invalid++
		return out
	}
	var typ byte
	switch msg[0] {
	case msgInfoRequest:
		s.cnt.InfoRequests++
		// RFC 8415 §16.12: another server's, or with IA options: discard.
		if (o.serverID != nil && string(o.serverID) != string(s.duid)) || o.hasIA {
			s.cnt.Ignored++
			return out
		}
		typ = msgReply
	case msgSolicit:
		s.cnt.Solicits++
		// RFC 8415 §16.2: a Solicit needs a Client ID and no Server ID.
		if o.clientID == nil || o.serverID != nil {
			s.cnt.Ignored++
			return out
		}
		typ = msgAdvertise
	default:
		s.cnt.Ignored++
		return out
	}
	if !s.allow(m.srcMAC, now) {
		s.cnt.RateLimited++
		return out
	}
	s.cnt.Replies++
	return append(out, s.reply(m, typ, [3]byte(msg[1:4]), o.clientID))
}

// allow takes a token from the client's bucket and the global one.
func (s *Server) allow(mac [6]byte, now time.Duration) bool {
	h := uint32(2166136261)
	for _, c := range mac {
		h = (h ^ uint32(c)) * 16777619
	}
	b := &s.clients[h%clientSlots]
	if !b.used || b.mac != mac {
		if b.used {
			s.cnt.ClientSlotsIn++
		}
		*b = bucket{mac: mac, tokens: ClientBurst, last: now, used: true}
	}
	refill(b, now, ClientRate, ClientBurst)
	refill(&s.global, now, GlobalRate, GlobalBurst)
	if b.tokens < 1 || s.global.tokens < 1 {
		return false
	}
	b.tokens--
	s.global.tokens--
	return true
}

func refill(b *bucket, now time.Duration, rate, burst float64) {
	if now > b.last {
		b.tokens = min(burst, b.tokens+rate*(now-b.last).Seconds())
	}
	b.last = now
}

// reply builds the Reply (or Advertise) frame for client message m.
func (s *Server) reply(m clientMessage, typ byte, xid [3]byte, clientID []byte) []byte {
	const eth, hl, ul = packet.EthernetHeaderLen, packet.IPv6HeaderLen, packet.UDPHeaderLen
	b := s.buf[:eth+hl+ul]
	b = append(b, typ, xid[0], xid[1], xid[2])
	b = appendOpt(b, optServerID, s.duid)
	if clientID != nil {
		b = appendOpt(b, optClientID, clientID)
	}
	if typ == msgAdvertise {
		st := append([]byte{0, statusNoAddrs}, "this router assigns no addresses: use SLAAC"...)
		b = appendOpt(b, optStatusCode, st)
		b = appendOpt(b, optSolMaxRT, binary.BigEndian.AppendUint32(nil, solMaxRTAdvised))
	} else {
		if len(s.cfg.DNS) > 0 {
			at := len(b)
			b = appendOpt(b, optDNSServers, nil)
			for _, a := range s.cfg.DNS {
				a16 := a.As16()
				b = append(b, a16[:]...)
			}
			binary.BigEndian.PutUint16(b[at+2:], uint16(len(b)-at-4))
		}
		if len(s.cfg.Domains) > 0 {
			at := len(b)
			b = appendOpt(b, optDomainList, nil)
			for _, d := range s.cfg.Domains {
				for _, l := range strings.Split(strings.TrimSuffix(d, "."), ".") {
					b = append(b, byte(len(l)))
					b = append(b, l...)
				}
				b = append(b, 0)
			}
			binary.BigEndian.PutUint16(b[at+2:], uint16(len(b)-at-4))
		}
		b = appendOpt(b, optInfoRefresh, binary.BigEndian.AppendUint32(nil, uint32(s.cfg.InfoRefresh/time.Second)))
	}
	s.buf = b[:0]
	plen := len(b) - eth - hl
	packet.Ethernet(b).PutHeader(m.srcMAC, s.cfg.MAC, packet.EtherTypeIPv6)
	ll, dst := s.cfg.LinkLocal.As16(), m.src.As16()
	packet.IPv6(b[eth : eth+hl+plen]).PutHeader(packet.IPv6Header{NextHeader: packet.ProtoUDP, HopLimit: 255, Src: ll, Dst: dst})
	u := b[eth+hl:]
	binary.BigEndian.PutUint16(u[0:], ServerPort)
	binary.BigEndian.PutUint16(u[2:], ClientPort)
	binary.BigEndian.PutUint16(u[4:], uint16(plen))
	u[6], u[7] = 0, 0
	c := packet.Fold(packet.Sum(u, packet.PseudoHeaderSum6(ll[:], dst[:], packet.ProtoUDP, plen)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return b
}

func appendOpt(b []byte, code uint16, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}
