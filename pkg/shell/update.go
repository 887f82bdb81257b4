package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// UpdateRouter is the part of a Router that installs firmware updates
// into its boot slots (issue #17). A Router without it has none: "system
// update" says so.
type UpdateRouter interface {
	// InstallUpdate reads an update file (.pgu) from r, checks it whole
	// and writes it into the boot slot that is not running, then arms that
	// slot's one trial boot; w gets a line per step. Nothing is written
	// when the file is refused.
	InstallUpdate(ctx context.Context, r io.Reader, w io.Writer) error
	// FetchUpdate starts downloading an update file from an http:// or
	// https:// URL, from the router itself; the caller closes it.
	FetchUpdate(ctx context.Context, url string) (io.ReadCloser, error)
	// RollbackSlot goes back to the other boot slot: abandoning a trial
	// that runs, or making the other (ready) slot the committed one; it
	// takes effect at the next reboot.
	RollbackSlot(ctx context.Context, w io.Writer) error
}

// RunInput is Run with the command's standard input: what
// "ssh admin@router 'system update' < passgate-rpi4-1.2.0.pgu" sends.
func (sh *Shell) RunInput(ctx context.Context, line string, in io.Reader, w io.Writer) error {
	s := sh.newSession(ctx, nil, w, TermInfo{}, false)
	defer s.close()
	s.stdin = in
	err := s.execLine(line)
	s.leave()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return s.out.err
}

func systemCommand() *command {
	return &command{word: "system", help: "firmware updates", sub: []*command{
		{word: "update", help: "install a firmware update fetched from URL, or sent on standard input (ssh admin@ROUTER 'system update' < FILE.pgu)", long: true, run: cmdSystemUpdate,
			args: []*argSpec{urlArg}},
		{word: "rollback", help: "go back to the firmware in the other boot slot at the next reboot", run: cmdSystemRollback},
	}}
}

// urlArg is where "system update" fetches the file from.
var urlArg = &argSpec{ph: "<URL>", help: "http:// or https:// address of the update file (.pgu)", optional: true, check: func(w string) error {
	if !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://") {
		return fmt.Errorf("%q: give the update file's http:// or https:// address, or send the file on standard input", w)
	}
	if len(w) > 2048 {
		return fmt.Errorf("the URL has %d characters: at most 2048", len(w))
	}
	return nil
}}

func (s *session) updateRouter() (UpdateRouter, error) {
	u, ok := s.sh.r.(UpdateRouter)
	if !ok {
		return nil, errors.New("this router has no boot slots to update")
	}
	return u, nil
}

func cmdSystemUpdate(s *session, c *call) error {
	u, err := s.updateRouter()
	if err != nil {
		return err
	}
	if len(c.args) > 0 && c.args[0] != "" {
		url := c.args[0]
		s.sh.logf("firmware update from %s requested by %s", url, s.who())
		fmt.Fprintf(s.out, "Fetching %s...\n", url)
		body, err := u.FetchUpdate(s.cmdCtx, url)
		if err != nil {
			return err
		}
		defer body.Close()
		return u.InstallUpdate(s.cmdCtx, body, s.out)
	}
	if s.stdin == nil {
		return errors.New(`give the update file's address (system update https://SERVER/passgate-BOARD-VERSION.pgu), or send the file on standard input, from a computer: ssh admin@ROUTER 'system update' < passgate-BOARD-VERSION.pgu (make update builds it)`)
	}
	s.sh.logf("firmware update requested by %s", s.who())
	return u.InstallUpdate(s.cmdCtx, s.stdin, s.out)
}

func cmdSystemRollback(s *session, _ *call) error {
	u, err := s.updateRouter()
	if err != nil {
		return err
	}
	s.sh.logf("firmware rollback requested by %s", s.who())
	return u.RollbackSlot(s.cmdCtx, s.out)
}
