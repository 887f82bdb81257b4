package shell

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// QoSRouter is the part of a Router that shapes its ports ("show qos").
type QoSRouter interface {
	QoS(ctx context.Context) ([]QoSPort, error)
}

// QoSPort is one shaped port.
type QoSPort struct {
	Port        string // "wan" (upload), "lan" (download)
	Rate        uint64 // bits/s
	Tiers       []QoSTier
	QueuedBytes int
	LongestWait time.Duration // of the packets sent since the last look
	// LateLine is the line time the shaper lost, since it was set up,
	// because its sender woke later than a packet was due (a busy CPU).
	LateLine time.Duration
}

// QoSTier is one tier's counters.
type QoSTier struct {
	Name                   string
	Packets, Bytes         uint64
	Queued                 int
	CoDelDrops, LimitDrops uint64
	ECNMarks               uint64 // CoDel's marks instead of drops (ECN-capable flows)
}

func showQoSCommand() *command {
	return &command{word: "qos", help: "shaping: rates, queues, drops and ECN marks per tier", run: cmdShowQoS}
}

func cmdShowQoS(s *session, _ *call) error {
	qr, ok := s.sh.r.(QoSRouter)
	if !ok {
		return errors.New("this router does not shape its ports")
	}
	ports, err := qr.QoS(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(ports) == 0 {
		s.printf("QoS is off: set qos upload and download a little below the line's.\n")
		return nil
	}
	for _, p := range ports {
		what := map[string]string{"wan": "Upload (wan)", "lan": "Download (lan)"}[p.Port]
		s.printf("%s: shaped at %s, %sB queued, longest wait %v\n", what, config.FormatRate(p.Rate),
			size(uint64(p.QueuedBytes)), p.LongestWait.Round(100*time.Microsecond))
		s.printf("  line time lost to late sends: %v\n", p.LateLine.Round(time.Millisecond))
		t := newTable(s.cols()-1, "  Tier", "Packets", "Bytes", "Queued", "CoDel drops", "ECN marks", "Limit drops")
		for _, x := range p.Tiers {
			t.row("  "+x.Name, fmt.Sprint(x.Packets), size(x.Bytes), fmt.Sprint(x.Queued), fmt.Sprint(x.CoDelDrops), fmt.Sprint(x.ECNMarks), fmt.Sprint(x.LimitDrops))
		}
		s.printf("%s", t)
	}
	cfg := s.sh.r.Config()
	if n := len(cfg.QoS.Priority); n > 0 {
		s.printf("Priority tier: VPN tunnels, DNS, bare ACKs, and %d configured class(es).\n", n)
	} else {
		s.printf("Priority tier: VPN tunnels (IPsec, PPTP, L2TP, OpenVPN, WireGuard), DNS, bare ACKs.\n")
	}
	return nil
}
