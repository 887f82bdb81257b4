// Package pppoe is the host side of PPP over Ethernet (RFC 2516, with
// RFC 4638's PPP-Max-Payload): the wire codec of both stages and the
// client of the discovery stage, which finds the ISP's access concentrator
// and obtains a session ID.
//
// The client is "sans-IO": it holds no socket, goroutine or clock. Start,
// HandleFrame, Tick and Terminate take the time and return complete,
// untagged Ethernet frames for the caller to send; Deadline says when
// Tick is due; Events returns the transitions (SessionUp, SessionDown)
// the caller acts on by starting or ending PPP (package ppp) in the
// session. pkg/wanport carries the session's IPv4 on the data path.
//
// Discovery follows RFC 2516 §5: a broadcast PADI with our Service-Name
// and a random Host-Uniq, resent with a doubling wait (1 s to 32 s, for
// ever: a router keeps trying); the first PADO that echoes our Host-Uniq,
// names its concentrator, carries no error tag and matches the configured
// concentrator and service is answered with a PADR that echoes its
// AC-Cookie and Relay-Session-Id; a PADS with a session ID brings the
// session up. Three unanswered PADRs go back to PADI; a PADS with an error
// tag, or a PADT from the concentrator, waits a backoff (1 s doubling to
// 32 s, back to 1 s after a session that lasted a minute) and starts
// over. Every refusal is kept in words for the owner (Status.LastError).
//
// Not supported: being a concentrator, and choosing among several offers
// by anything but their name and service.
package pppoe
