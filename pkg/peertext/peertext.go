// Package peertext makes text a peer sent (a DHCP server's message, a
// PPPoE concentrator's name, a PPP login's reply) safe to log and show:
// bounded, and printable ASCII only, so a hostile peer can neither flood
// a log line nor put terminal escapes in front of the owner.
package peertext

// Clean returns at most n bytes of b with every byte outside printable
// ASCII (0x20-0x7e) replaced by '?'.
func Clean(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
