// Package dhcpv6 is the router's WAN DHCPv6 client (RFC 8415): it asks
// the ISP for a delegated prefix (IA_PD) and, if configured, a WAN address
// (IA_NA), keeps them with Renew and Rebind, and reports to routerd through
// events like pkg/wan's DHCPv4 client: PrefixAcquired, PrefixRenewed,
// PrefixChanged (old and new prefix: routerd deprecates the old one on the
// LAN and flushes its flows) and PrefixLost, each carrying the lease with
// the DNS servers and search domains the server gave.
//
// # Transport
//
// The WAN port belongs to routerd's data plane (AF_PACKET), so the client
// speaks DHCPv6 through a Transport at the level of messages (UDP
// payloads). FrameConn turns it into Ethernet frames (IPv6 from the port's
// EUI-64 link-local address to ff02::1:2, UDP 546→547, checksummed) and
// parses the servers' answers out of the frames the data plane offers it
// (Deliver). MemLink is an in-memory Transport for tests; both pass the
// same contract test.
//
// # The client
//
// The state machine is RFC 8415 §18.2's: Solicit (with the prefix length
// hint, or the remembered prefix, in the IA_PD; optionally Rapid Commit),
// choice among Advertises by preference (255 at once), Request, then Renew
// at T1 to the server, Rebind at T2 to any server, and a new Solicit when
// the prefix expires. Every transmission follows §15's retransmission
// algorithm (IRT, MRT, MRC, MRD, ±10% randomisation), with the parameters
// of §7.6 and a server's SOL_MAX_RT taken only within 60 s..1 day. Replies
// are matched on transaction ID, our DUID and, where one was named, the
// server's DUID. With Config.AcceptReconfigure the client offers
// Reconfigure Accept and takes a Reconfigure only when it is signed with
// the server's reconfigure key (RKAP, §20.4) and asks for Renew or Rebind
// (reconfigure.go); without it every Reconfigure is dropped. Reconfigures
// reach the client only when sent to its link-local address, the one
// FrameConn accepts (a server on the link, or a relay, uses that one). A
// server's unicast option is ignored unless Config.AllowUnicast.
//
// On its first start the client makes a DUID from the WAN MAC (DUID-LL by
// default) and keeps it in Config.StateDir for good, and it remembers each
// lease there (pkg/atomicfile), so the ISP sees the same client after a
// restart and, after a reboot, the client first confirms the remembered
// prefix with a Rebind (RFC 8415 §18.2.12) and otherwise Solicits with it
// as a hint.
//
// # A hostile server
//
// Every message is read within MaxMessageLen bytes and 128 top-level
// options; a compressed domain list is set aside before the codec sees it.
// A prefix is taken only if it is /32../64 (MinPrefixLength,
// MaxPrefixLength), global unicast or unique local (an upstream router may
// delegate from its ULA; link-local, multicast, loopback, IPv4-mapped and
// the reserved space are refused), with a preferred lifetime not above
// the valid one and a valid lifetime of at least MinLifetime; an IA with
// T1 > T2 is discarded (§21.4, §21.21). Lifetimes are capped at
// MaxLifetime, and T1 and T2 are made to satisfy MinRenewTime ≤ T1 ≤ T2 <
// valid lifetime, so no server can make the client send faster than the
// retransmission algorithm, whose first interval is at least 0.9 s and
// grows. A Request refused (NoPrefixAvail) makes the client Solicit again
// after a pause that doubles each time. The client keeps one prefix and
// one address, at most MaxDNS servers and MaxDomains domains; what it
// receives waits in a queue of MemQueue messages.
//
// Time comes from an injected Clock (pkg/wan's), randomness from an
// injectable source; the machine runs on Run's goroutine and blocks only
// in Transport.Recv, so a fake clock drives it deterministically in tests.
package dhcpv6
