// Package wan obtains the router's WAN address: by DHCP (DHCP), or from the
// configuration (Static). Both report to routerd through the same events
// (LeaseAcquired, LeaseRenewed, LeaseChanged, LeaseLost), so routerd treats
// them alike: it points the NAT's external address, the WAN ARP responder
// and the default route at whatever the last event says.
//
// # Why not kernel sockets
//
// The WAN port carries no IPv4 address in the kernel: routerd's data plane
// reads every WAN frame through AF_PACKET. The DHCP client therefore speaks
// DHCP through a Transport, at the level of DHCP messages (UDP payloads).
// FrameConn turns a Transport into Ethernet frames (Ethernet II + IPv4 +
// UDP 68↔67), so the data plane only has to hand it the frames it reads on
// the WAN port (FrameConn.Deliver) and write the frames it produces.
//
// # The DHCP client
//
// DHCP is an RFC 2131 client state machine of our own (INIT, SELECTING,
// REQUESTING, BOUND, RENEWING, REBINDING, INIT-REBOOT), built on the message
// codec of github.com/insomniacslk/dhcp/dhcpv4. It does not use nclient4:
// nclient4 waits on the real clock (time.After), retransmits a fixed number
// of times without jitter, sends renewals to the address fixed when the
// client was made (broadcast by default) and only accepts them from the
// original server (so REBINDING to another server cannot succeed), has no
// INIT-REBOOT, accepts the first OFFER without checking it, and its receive
// goroutine ends for good at the first read error. Every one of those is a
// requirement here, so the state machine is ours and nclient4 is not used.
//
// Time comes from an injected Clock; randomness (transaction IDs, jitter)
// from an injectable source. The client runs in one goroutine (Run): it
// blocks in Transport.Recv with a context that a Clock timer cancels at the
// next deadline, so a fake clock drives it deterministically in tests.
//
// Every reply is checked before it can change state (transaction ID,
// hardware address, message type for the state, server identifier, offered
// address, lease time, subnet mask); anything else is ignored and counted
// in Counters. A Transport error never stops the client: it is counted and
// the client carries on with its retransmission timers, so a lost link
// shows up as missed renewals and, in the end, LeaseLost, and a link that
// comes back is used again.
//
// With DHCPConfig.StateDir set the client remembers its lease in a small
// file (LeaseFileName), written atomically, and on the next start asks for
// the same address again (INIT-REBOOT, or a DISCOVER naming the address when
// the lease is known to have expired or was released).
package wan
