package main

import (
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/packet"
)

// payloadHelper tells the data plane which flows a passthrough helper
// rewrites the payload of: PPTP control connections (TCP 1723), whose Call
// IDs the helper changes. Their super-packets are segmented before
// translation so the helper sees each segment (dataplane.Config).
func payloadHelper(proto uint8, sport, dport uint16) bool {
	return proto == packet.ProtoTCP && (sport == passthrough.PortPPTP || dport == passthrough.PortPPTP)
}
