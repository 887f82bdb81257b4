package shell

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/config"
)

// The commit history: "commit comment "..."" and "show system commit"
// (who committed what, when, how, and which revision still holds it).

const maxComment = 256 // characters of a commit comment

var commentArg = &argSpec{ph: `<"TEXT">`, help: "the comment, in double quotes if it has spaces", check: func(w string) error {
	if n := utf8.RuneCountInString(w); n > maxComment {
		return fmt.Errorf("the comment has %d characters; at most %d are allowed", n, maxComment)
	}
	return nil
}}

func commentOpts() []*optSpec {
	return []*optSpec{{word: "comment", help: "a note kept in the commit history (show system commit)", arg: commentArg}}
}

type userKey struct{}

// WithUser returns ctx carrying who uses the sessions run with it, for
// the log and the commit history: "ssh admin (key laptop) from
// 192.168.1.20:51234". It takes precedence over TermInfo.Name, and is
// the only name Run and RunScript sessions have.
func WithUser(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, userKey{}, who)
}

type peerKey struct{}

// peer is where a session comes from, and the router's port it reached.
type peer struct {
	addr netip.Addr
	port uint16
}

// WithPeer returns ctx carrying the address the sessions run with it
// come from (an SSH client's, a browser's) and the router's port they
// reached (22, 443). Commit and CommitConfirmed get it in their context: a
// router refuses a plain commit that would cut that session off (the MAC
// filter or a firewall rule blocking the owner's own device).
func WithPeer(ctx context.Context, a netip.Addr, localPort uint16) context.Context {
	return context.WithValue(ctx, peerKey{}, peer{a.Unmap(), localPort})
}

// PeerOf returns the address and port WithPeer put in ctx.
func PeerOf(ctx context.Context) (addr netip.Addr, localPort uint16, ok bool) {
	if ctx == nil {
		return netip.Addr{}, 0, false
	}
	p, ok := ctx.Value(peerKey{}).(peer)
	return p.addr, p.port, ok && p.addr.IsValid()
}

func userOf(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	v, _ := ctx.Value(userKey{}).(string)
	return v
}

// withComment keeps the comment clause of c for the commit it runs; the
// returned function forgets it.
func (s *session) withComment(c *call) func() {
	s.comment, _ = c.opt("comment")
	return func() { s.comment = "" }
}

// recordCommit adds the commit just made (s.cand) to the history.
func (s *session) recordCommit(minutes int) {
	how := "commit"
	if minutes > 0 {
		how = fmt.Sprintf("commit confirmed %d", minutes)
	}
	e := config.HistoryEntry{Time: s.sh.clock.Now(), Who: s.who(), How: how, Comment: s.comment}
	if err := s.sh.r.RecordCommit(e, s.cand); err != nil {
		s.warnf("the commit is applied and saved, but the commit history was not updated: %v", err)
		s.sh.logf("commit history: %v", err)
	}
}

// recordRollback adds the automatic rollback of a commit confirmed.
func (sh *Shell) recordRollback(prev *config.Config, by string) {
	e := config.HistoryEntry{Time: sh.clock.Now(), Who: "router", How: "automatic rollback",
		Comment: "the commit confirmed by " + by + " was not confirmed in time"}
	if err := sh.r.RecordCommit(e, prev); err != nil {
		sh.logf("commit history: %v", err)
	}
}

func showCommitHistoryCommand() *command {
	return &command{word: "commit", help: "the commit history: when, who, how, comment", run: cmdShowCommits}
}

func cmdShowCommits(s *session, _ *call) error {
	list, err := s.sh.r.CommitHistory()
	if err != nil {
		return err
	}
	if len(list) == 0 {
		s.printf("No commits recorded yet.\n")
		return nil
	}
	t := newTable(s.cols()-1, "Rev", "Time", "How")
	for _, e := range list {
		rev := "-"
		if e.Revision >= 0 {
			rev = strconv.Itoa(e.Revision)
		}
		how := e.How
		if how == "" {
			how = "commit"
		}
		t.row(rev, e.Time.Local().Format("2006-01-02 15:04:05"), how)
		t.note("by %s", e.Who)
		if e.Comment != "" {
			t.note("comment: %s", e.Comment)
		}
	}
	s.printf("%s", t)
	s.wrapped("", `Rev is the revision that holds the configuration of that commit ("-": no longer kept): "rollback N" in configuration mode loads it, "compare rollback N" shows what changed since.`)
	return nil
}
