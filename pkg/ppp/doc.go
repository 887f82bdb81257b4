// Package ppp is the client side of PPP as it runs over PPPoE (RFC 2516
// §7: no address and control fields, 2-byte protocol numbers, no PFC or
// ACFC): LCP (RFC 1661) with MRU and magic-number negotiation and an
// echo keepalive, authentication by PAP (RFC 1334) or CHAP-MD5 (RFC
// 1994), and IPCP (RFC 1332) with the DNS options of RFC 1877.
//
// LCP and IPCP share one implementation of RFC 1661's option negotiation
// automaton (fsm.go), a transcription of its §4.1 state transition table
// that the tests check cell by cell, with the RFC's restart timer (3 s),
// Max-Terminate (2), Max-Configure (10) and Max-Failure (5, after which
// Naks turn into Rejects so a negotiation converges).
//
// The Session is "sans-IO": Open, Input, Tick and Close take the time and
// return the packets (protocol and information field) to send in the
// PPPoE session; Deadline says when Tick is due; Events returns Up (the
// IPv4 address, the peer's, DNS servers, the peer's MRU) and Down (why,
// in words for the owner, and whether authentication failed, which the
// caller answers with a longer wait before trying again). LowerDown tells
// it the PPPoE session is gone; no Down follows, the caller knows why.
//
// Negotiation: we ask for our MRU (1492, or up to 1500 with RFC 4638) and
// a magic number; we accept the peer's MRU up to ours and PAP or
// CHAP-MD5, Nak anything else towards CHAP-MD5, Nak our own magic number
// (a looped line), and Reject PFC, ACFC, IP compression and every option
// we do not implement. IPCP asks for address 0.0.0.0 and DNS servers and
// takes the peer's Naks; an address the peer will not give ends the link
// with that reason. Packets of protocols we do not speak get a
// Protocol-Reject.
//
// Not supported: MS-CHAP and EAP, compression and encryption (CCP, ECP),
// multilink, IPV6CP (so no IPv6 over PPPoE yet), and being the server.
package ppp
