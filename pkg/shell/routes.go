package shell

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// "show route", "show arp", and ping's options.

const (
	defaultPingSize = 56
	maxPingCount    = 1000
	maxPingSize     = 1472 // data bytes that fit a 1500-byte MTU unfragmented
)

func showRouteCommand() *command {
	return &command{word: "route", help: "IPv4 routes: connected subnets and the default route", run: cmdShowRoute}
}

func showARPCommand() *command {
	return &command{word: "arp", help: "ARP cache: the neighbours on the LAN and WAN ports", run: cmdShowARP}
}

func cmdShowRoute(s *session, _ *call) error {
	rs, err := s.sh.r.Routes(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		s.printf("No routes.\n")
		return nil
	}
	slices.SortStableFunc(rs, func(a, b Route) int {
		if c := a.Destination.Addr().Compare(b.Destination.Addr()); c != 0 {
			return c
		}
		return a.Destination.Bits() - b.Destination.Bits()
	})
	t := newTable(s.cols()-1, "Destination", "Gateway", "Interface", "Source")
	for _, r := range rs {
		gw := "-"
		if r.Gateway.IsValid() {
			gw = r.Gateway.String()
		}
		t.row(r.Destination.String(), gw, r.Interface, r.Source)
	}
	s.printf("%s", t)
	return nil
}

func cmdShowARP(s *session, _ *call) error {
	ns, err := s.sh.r.Neighbors(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		s.printf("The ARP cache is empty.\n")
		return nil
	}
	slices.SortStableFunc(ns, func(a, b Neighbor) int {
		if c := strings.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	t := newTable(s.cols()-1, "IP address", "MAC address", "Interface")
	for _, n := range ns {
		t.row(n.IP.String(), n.MAC.String(), n.Interface)
	}
	s.printf("%s", t)
	s.printf("%d entr%s.\n", len(ns), map[bool]string{true: "y", false: "ies"}[len(ns) == 1])
	return nil
}

// pingOpts are ping's clauses: "count N" or "-c N", "size N" or "-s N",
// before or after the host.
func pingOpts() []*optSpec {
	count := intArg("<N>", "number of requests", 1, maxPingCount, false)
	size := intArg("<BYTES>", "data bytes per request", 0, maxPingSize, false)
	return []*optSpec{
		{word: "count", help: fmt.Sprintf("number of requests (default %d)", defaultPingCount), arg: count},
		{word: "-c", help: "number of requests, as count", arg: count, key: "count"},
		{word: "size", help: fmt.Sprintf("data bytes per request (default %d)", defaultPingSize), arg: size},
		{word: "-s", help: "data bytes per request, as size", arg: size, key: "size"},
	}
}

func pingOptions(c *call) PingOptions {
	o := PingOptions{Count: defaultPingCount, Size: defaultPingSize}
	if v, ok := c.opt("count"); ok {
		o.Count, _ = strconv.Atoi(v)
	}
	if v, ok := c.opt("size"); ok {
		o.Size, _ = strconv.Atoi(v)
	}
	return o
}
