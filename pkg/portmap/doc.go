// Package portmap is passgate's automatic port mapping for LAN hosts:
// a NAT-PMP (RFC 6886) and PCP (RFC 6887: MAP and ANNOUNCE; PEER is
// answered UNSUPP_OPCODE) server, safe by construction.
//
// It has three layers:
//
//   - The codecs (natpmp.go, pcp.go) parse requests and build responses,
//     bounded: a PCP message is at most 1100 bytes and at most
//     PCPMaxOptions options are read.
//   - Server keeps the mapping table and answers requests: Handle takes a
//     datagram, its source and the time and returns the response. It does
//     no I/O, starts no goroutine and reads no clock, so tests drive it
//     table by table.
//   - Serve is a thin loop over a net.PacketConn the caller binds.
//   - Map, Unmap and MappingsOf are the programmatic API over the same
//     table for UPnP IGD (pkg/upnpigd): the same caps, reserved ports,
//     lifetimes and per-source rate limit. The caller passes the
//     requesting host's address from the transport; it is the internal
//     address. Each Mapping records its Origin (nat-pmp, pcp, upnp) and
//     a sanitised Description (printable ASCII, at most 64 bytes).
//     UPnP IGDv1's "permanent" lease (0) is MaxLifetime here, like any
//     other lease renewed by asking again: a router that reboots or a
//     host that leaves must not leave ports open for ever. (IGDv2 maps
//     0 to 604800 s; MaxLifetime is lower still.)
//
// # Safety
//
//   - A host maps only to itself: the internal address is the request's
//     source, a PCP client address field that differs from the source is
//     answered ADDRESS_MISMATCH, THIRD_PARTY is refused (UNSUPP_OPTION).
//     Only sources inside Config.LAN are answered at all.
//   - Ports below Config.MinPort (1024) and the ports Config.Reserved
//     names (the router's own services, the configured port forwards) are
//     never mapped; SetReserved drops mappings a new policy reserves.
//   - Lifetimes are clamped to [MinLifetime, MaxLifetime] (120 s, 2 h);
//     a lifetime of 0 deletes.
//   - A host holds at most MaxPerHost mappings (16; PCP USER_EX_QUOTA,
//     NAT-PMP "out of resources"), all hosts MaxMappings (256;
//     NO_RESOURCES).
//   - Each source is rate limited (10 requests/s, burst 20); requests
//     over the limit are dropped unanswered.
//   - A PCP mapping belongs to the nonce that created it: a request for
//     it with another nonce is NOT_AUTHORIZED (RFC 6887 §11.3).
//   - Through Map, a host may move its own mapping of an internal port
//     to another free external port (UPnP names the external port), and
//     Unmap deletes only the caller's own mappings.
//
// # Seam with the NAT engine
//
// The package does not import pkg/nat. Config.Reserved must come from the
// configuration (the router's services, the configured forwards), not
// from the engine's merged forward list, which holds the mappings
// themselves: a renewal would find its own port reserved and move.
// routerd reads Mappings and merges
// them into the engine's port forwards whenever Config.OnChange fires
// (the set changed, or the external address did), calls DropHost when a
// DHCP lease ends, Expire at NextExpiry, and SetExternal when the WAN
// address changes, sending the announcements it returns (and again
// AnnounceRepeats times with Announce, the interval doubling from
// AnnounceFirstInterval).
package portmap
