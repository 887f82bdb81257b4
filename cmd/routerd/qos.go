package main

import (
	"context"
	"fmt"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/qos"
	"github.com/passgate/passgate/pkg/shell"
)

// QoS (issue #18): the WAN port's egress shaped at qos upload, the LAN
// port's at qos download, each a qos.Shaper in the data plane.

// applyQoS sets the shapers from c and says what changed.
func (r *router) applyQoS(c *config.Config, old *config.Config) []string {
	var classes []qos.Class
	for _, p := range c.QoS.Priority {
		classes = append(classes, qos.Class{TCP: p.Protocol == config.ProtoTCP || p.Protocol == config.ProtoTCPUDP,
			UDP: p.Protocol == config.ProtoUDP || p.Protocol == config.ProtoTCPUDP, First: p.Port.First, Last: p.Port.Last})
	}
	var out []string
	for _, x := range []struct {
		port      int
		what      string
		rate, was uint64
	}{{dataplane.PortWAN, "upload (wan)", c.QoS.Upload, qosRate(old, true)}, {dataplane.PortLAN, "download (lan)", c.QoS.Download, qosRate(old, false)}} {
		if err := r.dp.SetShaper(x.port, x.rate, classes); err != nil {
			out = append(out, fmt.Sprintf("qos %s: %v", x.what, err))
			continue
		}
		switch {
		case x.rate == x.was:
		case x.rate == 0:
			out = append(out, fmt.Sprintf("qos: %s no longer shaped", x.what))
		default:
			out = append(out, fmt.Sprintf("qos: %s shaped at %s", x.what, config.FormatRate(x.rate)))
		}
	}
	return out
}

func qosRate(c *config.Config, upload bool) uint64 {
	if c == nil {
		return 0
	}
	if upload {
		return c.QoS.Upload
	}
	return c.QoS.Download
}

// QoS returns the shaped ports' state (shell.QoSRouter).
func (s shellRouter) QoS(ctx context.Context) ([]shell.QoSPort, error) {
	var out []shell.QoSPort
	for _, st := range s.r.dp.ShaperStats() {
		p := shell.QoSPort{Port: st.Port, Rate: st.Rate, QueuedBytes: st.QueuedBytes, LongestWait: st.LongestSojourn,
			LateLine: time.Duration(float64(st.LateBytes) * 8 / float64(max(st.Rate, 1)) * float64(time.Second))}
		for t, name := range []string{"normal", "priority"} {
			p.Tiers = append(p.Tiers, shell.QoSTier{Name: name, Packets: st.Sent[t], Bytes: st.Bytes[t], Queued: st.Queued[t],
				CoDelDrops: st.Dropped[t], ECNMarks: st.Marked[t], LimitDrops: st.Overlimit[t]})
		}
		p.Tiers[0], p.Tiers[1] = p.Tiers[1], p.Tiers[0] // priority first
		out = append(out, p)
	}
	return out, nil
}

var _ shell.QoSRouter = shellRouter{}
