package shell_test

import "testing"

func TestGolden(t *testing.T) {
	for _, name := range []string{"operational", "configure", "confirmed", "sessions", "keys", "reboot", "restart", "readonly", "pipes", "hierarchy", "history", "load", "views", "pager", "ipv6", "showipv6", "dns", "diagnose", "lan", "firewall", "qos"} {
		t.Run(name, func(t *testing.T) { runScript(t, name) })
	}
}
