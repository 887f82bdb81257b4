package shell

import (
	"errors"
	"fmt"
	"strings"

	"github.com/passgate/passgate/pkg/config"
)

// "load merge terminal" and "load override terminal" read a configuration
// typed or pasted after the command: set (and delete) commands, or the
// braces form "show configuration" prints. The text ends with a line
// holding only "." or with Ctrl-D at the start of a line; Ctrl-C drops
// it. merge applies it to the candidate; override makes it the whole
// candidate. In a script (ssh router < file) the lines that follow the
// command are the text, up to the "." line or the end of the script.

const (
	maxLoadBytes = 256 << 10 // 256 KiB: far above any real configuration
	maxLoadLines = 10000
	loadEnd      = "."
)

func loadCommand() *command {
	term := func(run func(*session, *call) error) []*command {
		return []*command{{word: "terminal", help: `type or paste it; end with a line holding only "." or Ctrl-D`, run: run}}
	}
	return &command{word: "load", help: "add a configuration to the candidate from the terminal", sub: []*command{
		{word: "merge", help: "merge it into the candidate", sub: term(cmdLoadMerge)},
		{word: "override", help: "replace the whole candidate with it", sub: term(cmdLoadOverride)},
	}}
}

func cmdLoadMerge(s *session, _ *call) error    { return s.load(false) }
func cmdLoadOverride(s *session, _ *call) error { return s.load(true) }

var errLoadCancelled = errors.New("load cancelled")

// loadText reads the text up to its end. An oversized text is read to
// its end (so the rest is not taken as commands) and refused.
func (s *session) loadText() (string, error) {
	var next func() (string, error) // io.EOF at the end of the input
	switch {
	case s.in != nil:
		s.wrapped("", `[Type or paste the configuration: set commands, or blocks as "show configuration" prints them. End with a line holding only "." or with Ctrl-D; Ctrl-C cancels.]`)
		next = func() (string, error) {
			l, err := s.readLine("", false)
			if errors.Is(err, errInterrupted) {
				return "", errLoadCancelled
			}
			return l, err
		}
	case s.readScript != nil:
		next = s.readScript
	default:
		return "", errors.New(`load ... terminal reads the configuration from the lines after it: use it in an interactive session, or in a script ("ssh admin@router < file")`)
	}
	var b strings.Builder
	lines, over := 0, false
	for {
		l, err := next()
		if errors.Is(err, errLoadCancelled) {
			return "", err
		}
		if err != nil || strings.TrimSpace(l) == loadEnd {
			break
		}
		lines++
		if over || b.Len()+len(l)+1 > maxLoadBytes || lines > maxLoadLines {
			over = true
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if over {
		return "", fmt.Errorf("the configuration is longer than %d lines or %d KiB; nothing was loaded", maxLoadLines, maxLoadBytes>>10)
	}
	return b.String(), nil
}

// load reads a configuration from the terminal into the candidate.
func (s *session) load(override bool) error {
	text, err := s.loadText()
	if errors.Is(err, errLoadCancelled) {
		s.printf("Load cancelled; the candidate is unchanged.\n")
		return nil
	}
	if err != nil {
		return err
	}
	n := s.cand.Clone()
	if override {
		n = config.New()
	}
	count, err := n.ApplyText(text)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) && ce.Line > 0 {
			lines := strings.Split(text, "\n")
			s.printf("line %d: %s\n", ce.Line, lines[ce.Line-1])
			if ce.Column > 0 {
				s.caret(len(fmt.Sprintf("line %d: ", ce.Line)) + ce.Column - 1)
			}
			return reported{s.loadError(ce.Msg + "; nothing was loaded")}
		}
		return fmt.Errorf("%v; nothing was loaded", err)
	}
	if override {
		// The ports are the board's: a pasted configuration that does not
		// name them keeps the running ones rather than the defaults.
		var kept []string
		lan, wan := &n.Interfaces.LAN.Device, &n.Interfaces.WAN.Device
		if *lan == "" && s.cand.Interfaces.LAN.Device != "" {
			*lan = s.cand.Interfaces.LAN.Device
			kept = append(kept, "interfaces lan device "+*lan)
		}
		if *wan == "" && s.cand.Interfaces.WAN.Device != "" {
			*wan = s.cand.Interfaces.WAN.Device
			kept = append(kept, "interfaces wan device "+*wan)
		}
		if len(kept) > 0 {
			s.wrapped("", "Kept "+strings.Join(kept, " and ")+": the loaded configuration does not name the ports.")
		}
		s.edits = append(s.edits, edit{verb: "load", cfg: n.Clone()})
	} else {
		s.edits = append(s.edits, edit{verb: "merge", words: []string{text}})
	}
	s.cand = n
	what := "merged into"
	if override {
		what = "loaded as"
	}
	s.wrapped("", fmt.Sprintf(`Load complete: %d statement(s) %s the candidate. "compare" shows the changes, "commit" applies them.`, count, what))
	return nil
}

// loadError prints a load error and returns it.
func (s *session) loadError(msg string) error {
	s.errorf("%s", msg)
	return errors.New(msg)
}
