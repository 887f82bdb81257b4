// Package dhcpd is passgate's LAN DHCPv4 server (RFC 2131/2132).
//
// It has two layers:
//
//   - Server is the protocol engine: Handle takes a parsed client message
//     and returns the reply, as a function of the message, the lease table
//     and an injected clock. It does no network I/O, so tests drive it
//     without root or sockets.
//   - Serve is a thin loop over a net.PacketConn that the caller binds
//     (on the router: Listen("self0"), a kernel UDP socket on port 67 with
//     SO_BINDTODEVICE and SO_BROADCAST). It parses datagrams, calls
//     Handle and sends each reply where ReplyDestination says.
//
// # Addresses
//
// A client (identified by its client identifier, option 61, else its MAC)
// is offered, in order: its static address; its current binding; the
// address it held before (remembered in memory after expiry or release);
// the address it asks for (option 50) if free; then a free pool address,
// never-used ones first. A static address is never given to another MAC.
// Offers are held for Options.OfferHold (60 s) so concurrent clients get
// different addresses. With no free address the DISCOVER goes unanswered
// and is counted (PoolExhausted). No ICMP probe is made before offering;
// a client that finds a conflict DECLINEs and the address is quarantined
// for Options.DeclineHold (1 h).
//
// The server is authoritative for its LAN: a REQUEST (SELECTING,
// INIT-REBOOT, RENEWING or REBINDING) for an address the client may have is
// ACKed even without a record of it, so clients keep their addresses after
// a lost lease file; anything else (wrong subnet, another client's address,
// not the address we have bound to this client) is NAKed. A REQUEST naming
// another server releases our offer and gets no reply. Relayed messages
// (giaddr set) are dropped: this server serves only its own link.
//
// # Lease file
//
// Bound and declined addresses are kept in a JSON file (Options.LeaseFile),
// rewritten atomically (temporary file, fsync, rename, fsync of the
// directory) synchronously on every ACK, RELEASE and DECLINE, before
// Handle returns: an ACK is on disk before it is sent. Offers are not
// written. On start the file is loaded; expired leases are pruned, leases
// invalid under the current configuration dropped, and a damaged file is
// logged, moved aside (".bad") and ignored. On FAT, where the file lives
// beside the configuration, rename is not journalled, but the old file is
// untouched until the fsynced new one replaces it.
//
// Expiry times are wall-clock times from Options.Now. On a board without an
// RTC, leases granted before the clock is set carry expiries in the past
// once it is; they then lapse early, but their clients' renewals are still
// ACKed while the address is free, and the addresses are given to others
// only after every never-used one. routerd should prefer to start the
// server once the clock is set.
package dhcpd
