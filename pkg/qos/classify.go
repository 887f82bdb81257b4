package qos

import "encoding/binary"

// Class puts more traffic in the priority tier: TCP and/or UDP to or
// from a port range (config "qos priority").
type Class struct {
	TCP, UDP    bool
	First, Last uint16
}

// Ports of the tunnels and services that go first by default: IKE and
// NAT-T, L2TP, PPTP control, OpenVPN, WireGuard, DNS.
func defaultPriority(proto uint8, sp, dp uint16) bool {
	for _, p := range [2]uint16{sp, dp} {
		switch p {
		case 53, 500, 4500, 1701, 1194, 51820:
			return true
		case 1723:
			return proto == protoTCP
		}
	}
	return false
}

const (
	protoTCP = 6
	protoUDP = 17
	protoGRE = 47
	protoESP = 50
)

// Classify says which tier an IP packet (IPv4 or IPv6, without its
// Ethernet header) goes to, and its flow hash (addresses, protocol and
// ports). The priority tier holds, by default, VPN tunnels (ESP, GRE,
// and the UDP and TCP ports of IKE, NAT-T, L2TP, PPTP, OpenVPN and
// WireGuard), DNS, bare TCP ACKs, and what is not IP (ARP, which must not
// wait); extra adds classes. It never reads past p.
func Classify(p []byte, extra []Class) (tier int, hash uint32) {
	if len(p) < 20 {
		return Priority, 0
	}
	var proto uint8
	var l4 []byte
	h := uint32(2166136261)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint32(c)
			h *= 16777619
		}
	}
	switch p[0] >> 4 {
	case 4:
		hl := int(p[0]&15) * 4
		if hl < 20 || len(p) < hl {
			return Normal, 0
		}
		proto = p[9]
		mix(p[12:20])
		if binary.BigEndian.Uint16(p[6:])&0x1fff == 0 { // not a later fragment
			l4 = p[hl:]
		}
	case 6:
		if len(p) < 40 {
			return Normal, 0
		}
		proto = p[6]
		mix(p[8:40])
		l4 = p[40:]
	default:
		return Priority, 0
	}
	h ^= uint32(proto)
	h *= 16777619
	switch proto {
	case protoESP, protoGRE:
		return Priority, h
	case protoTCP, protoUDP:
	default:
		return Normal, h
	}
	if len(l4) < 4 {
		return Normal, h
	}
	mix(l4[:4])
	sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	if defaultPriority(proto, sp, dp) {
		return Priority, h
	}
	for _, c := range extra {
		if (proto == protoTCP && c.TCP || proto == protoUDP && c.UDP) &&
			(sp >= c.First && sp <= c.Last || dp >= c.First && dp <= c.Last) {
			return Priority, h
		}
	}
	// A bare ACK: no payload, ACK without SYN, FIN or RST.
	if proto == protoTCP && len(l4) >= 20 {
		off := int(l4[12]>>4) * 4
		if off >= 20 && len(l4) == off && l4[13]&0x17 == 0x10 {
			return Priority, h
		}
	}
	return Normal, h
}
