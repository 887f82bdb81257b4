// Package pkttest holds what tests share to build packets with gopacket,
// the independent oracle of the packet code. Only tests import it.
package pkttest

import "github.com/gopacket/gopacket/layers"

// SetTCPFlags sets on tc the flags flags names, each a letter of "SAFRP"
// (SYN, ACK, FIN, RST, PSH); with ACK, tc acknowledges ack (1 when 0).
// Other letters are ignored: fuzz targets build flags from their input.
func SetTCPFlags(tc *layers.TCP, flags string, ack uint32) {
	for _, f := range flags {
		switch f {
		case 'S':
			tc.SYN = true
		case 'A':
			tc.ACK = true
			tc.Ack = max(ack, 1)
		case 'F':
			tc.FIN = true
		case 'R':
			tc.RST = true
		case 'P':
			tc.PSH = true
		}
	}
}
