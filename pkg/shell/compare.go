package shell

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/passgate/passgate/pkg/config"
)

// "show | compare" (configuration mode: the candidate against the
// committed configuration, or against revision N with "| compare rollback
// N"), "show configuration | compare rollback N" (the committed
// configuration against revision N) and "compare rollback N" (what changed
// since revision N). The pipe's form is Junos's: "[edit PATH]" headers and
// "-"/"+" statements of the tree; "| display set" gives "- set ..."/"+
// set ..." lines instead, as "compare" prints.

// showCompare prints the changes from the configuration the pipe names to
// cfg, under path.
func (s *session) showCompare(cfg *config.Config, c *call, path []string, base int) error {
	rev := s.pipe.rev
	old := s.base
	if rev >= 0 || cfg != s.cand || old == nil {
		if rev < 0 {
			rev = 1
		}
		r, err := s.sh.r.Rollback(rev)
		if err != nil {
			return fmt.Errorf("cannot load revision %d: %v", rev, err)
		}
		old = r
	}
	var lines []string
	var err error
	if s.pipe.display == "set" {
		var o, n *config.Config
		if o, err = old.Only(path); err == nil {
			if n, err = cfg.Only(path); err == nil {
				lines = config.Diff(o, n)
			}
		}
	} else {
		lines, err = config.TreeDiff(old, cfg, path)
	}
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return &lineError{c.tailAt + max(ce.Index-base, 0), ce.Msg}
		}
		return err
	}
	if len(lines) == 0 {
		if rev >= 0 {
			s.printf("No changes since revision %d.\n", rev)
		} else {
			s.printf("No changes: the candidate is the committed configuration.\n")
		}
		return nil
	}
	for _, l := range lines {
		s.printf("%s\n", l)
	}
	return nil
}

func compareRollbackCommand() *command {
	return &command{word: "rollback", help: "show what changed since revision N (- in revision N, + now)",
		args: []*argSpec{revisionArgRequired}, run: cmdCompareRollback}
}

// cmdCompareRollback is "compare rollback N": revision N against the
// committed configuration, as set commands.
func cmdCompareRollback(s *session, c *call) error {
	n, _ := strconv.Atoi(c.args[0])
	old, err := s.sh.r.Rollback(n)
	if err != nil {
		return fmt.Errorf("cannot load revision %d: %v", n, err)
	}
	d := config.Diff(old, s.sh.r.Config())
	if len(d) == 0 {
		s.printf("No changes: revision %d is the committed configuration.\n", n)
		return nil
	}
	for _, l := range d {
		s.printf("%s\n", wrap(l, s.cols()-1, "      "))
	}
	return nil
}
