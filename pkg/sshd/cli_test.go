package sshd_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/config"
)

// TestPagerAndUserOverSSH: an interactive SSH session pages output taller
// than its terminal (--More--, space for the next page); a commit made over
// SSH is recorded with the login name, the key and the client's address.
func TestPagerAndUserOverSSH(t *testing.T) {
	requireSSH(t)
	r := newRig(t, func(c *config.Config, _ clientKey) {
		for i := range 30 {
			if err := c.Set(strings.Fields(fmt.Sprintf("nat port-forward f%02d protocol tcp port %d to 192.168.1.10", i, 8000+i))); err != nil {
				t.Fatal(err)
			}
		}
	})
	out, errOut, code := r.runSSH("show configuration commands nat\n \nexit\n", nil, r.keyArgs(r.key, "-tt")...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%q\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "f22 protocol tcp port 8022 to 192.168.1.10\r\n--More--") || !strings.Contains(out, "f29 protocol") {
		t.Errorf("30 lines on a 24-row SSH terminal: no --More-- after 23, or not all of it after space:\n%q", out)
	}
	out, _, code = r.runSSH("", nil, r.keyArgs(r.key, `configure; set nat hairpin disable; commit comment "over ssh"`)...)
	if code != 0 {
		t.Fatalf("commit over exec: exit %d\n%s", code, out)
	}
	h, err := r.router.CommitHistory()
	if err != nil || len(h) != 1 {
		t.Fatalf("history %+v, %v", h, err)
	}
	if ok, _ := regexp.MatchString(`^ssh admin \(key laptop\) from 127\.0\.0\.1:[0-9]+$`, h[0].Who); !ok || h[0].Comment != "over ssh" {
		t.Errorf("history entry by %q with comment %q; want the SSH login with its key and address", h[0].Who, h[0].Comment)
	}
}
