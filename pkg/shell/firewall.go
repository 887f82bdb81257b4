package shell

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/passgate/passgate/pkg/config"
)

// FirewallRouter is the part of a Router that runs firewall rules ("show
// firewall"). A Router without it runs none.
type FirewallRouter interface {
	// FirewallRules lists the running rules in the order they run, with
	// how many connections each decided.
	FirewallRules(ctx context.Context) ([]FirewallRuleCount, error)
}

// FirewallRuleCount is one running rule's counter.
type FirewallRuleCount struct {
	Name   string
	Action string
	Active bool // its time window is open now
	Hits   uint64
}

func showFirewallCommand() *command {
	return &command{word: "firewall", help: "firewall rules with their counters, and the MAC filter", run: cmdShowFirewall}
}

func cmdShowFirewall(s *session, _ *call) error {
	fr, ok := s.sh.r.(FirewallRouter)
	if !ok {
		return errors.New("this router runs no firewall rules")
	}
	counts, err := fr.FirewallRules(s.cmdCtx)
	if err != nil {
		return err
	}
	cfg := s.sh.r.Config()
	tz := cfg.System.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	byName := map[string]config.FirewallRule{}
	for _, r := range cfg.Firewall.Rules {
		byName[r.Name] = r
	}
	if len(counts) == 0 {
		s.printf("No firewall rules: every connection is allowed.\n")
	} else {
		s.printf("Rules, first match decides (times in %s):\n", tz)
		t := newTable(s.cols()-1, "Rule", "Action", "Now", "Connections")
		for _, c := range counts {
			now := "on"
			if !c.Active {
				now = "off (outside its time)"
			}
			t.row(c.Name, c.Action, now, fmt.Sprint(c.Hits))
			t.note("%s", ruleSummary(byName[c.Name]))
		}
		s.printf("%s", t)
	}
	f := cfg.Firewall.MACFilter
	switch f.Mode {
	case config.MACFilterAllow:
		s.printf("MAC filter: allow list of %d device(s) (show lan devices).\n", len(f.Devices))
	case config.MACFilterDeny:
		s.printf("MAC filter: deny list of %d device(s) (show lan devices).\n", len(f.Devices))
	default:
		s.printf("MAC filter: off.\n")
	}
	return nil
}

// ruleSummary says in a few words what a rule matches.
func ruleSummary(r config.FirewallRule) string {
	var w []string
	if !r.From.IsZero() {
		w = append(w, "from "+r.From.String())
	}
	if !r.To.IsZero() {
		w = append(w, "to "+r.To.String())
	}
	if r.Protocol != config.RuleAny {
		w = append(w, string(r.Protocol))
	}
	if r.ICMPType != "" {
		w = append(w, "icmp-type "+string(r.ICMPType))
	}
	if !r.Port.IsZero() {
		w = append(w, "port "+r.Port.String())
	}
	if r.Time.Set {
		w = append(w, r.Time.String())
	}
	if r.Days != 0 {
		w = append(w, r.Days.String())
	}
	if r.Log {
		w = append(w, "logged")
	}
	if len(w) == 0 {
		return "everything"
	}
	return strings.Join(w, " ")
}
