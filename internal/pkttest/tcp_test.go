package pkttest

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestSetTCPFlags(t *testing.T) {
	for _, c := range []struct {
		flags string
		ack   uint32
		want  layers.TCP
	}{
		{"S", 0, layers.TCP{SYN: true}},
		{"SA", 0, layers.TCP{SYN: true, ACK: true, Ack: 1}},
		{"PA", 77, layers.TCP{PSH: true, ACK: true, Ack: 77}},
		{"FA", 5, layers.TCP{FIN: true, ACK: true, Ack: 5}},
		{"R", 9, layers.TCP{RST: true}},
		{"SXU", 0, layers.TCP{SYN: true}}, // a fuzz target's letters
	} {
		var got layers.TCP
		SetTCPFlags(&got, c.flags, c.ack)
		if got.SYN != c.want.SYN || got.ACK != c.want.ACK || got.FIN != c.want.FIN || got.RST != c.want.RST || got.PSH != c.want.PSH || got.Ack != c.want.Ack {
			t.Errorf("%q, ack %d: %+v", c.flags, c.ack, got)
		}
	}
}
