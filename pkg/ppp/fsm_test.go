package ppp

import (
	"slices"
	"testing"
)

// TestTableAgainstRFC1661 checks the automaton against cells of RFC 1661
// §4.1's table, typed in here from the RFC's two halves independently of
// fsm.go, in the RFC's own notation ("-" for an impossible event).
func TestTableAgainstRFC1661(t *testing.T) {
	names := map[string]event{"Up": eUp, "Down": eDown, "Open": eOpen, "Close": eClose, "TO+": eTOPlus, "TO-": eTOMinus,
		"RCR+": eRCRPlus, "RCR-": eRCRMinus, "RCA": eRCA, "RCN": eRCN, "RTR": eRTR, "RTA": eRTA, "RUC": eRUC,
		"RXJ+": eRXJPlus, "RXJ-": eRXJMinus, "RXR": eRXR}
	acts := map[string]action{"tlu": tlu, "tld": tld, "tls": tls, "tlf": tlf, "irc": irc, "zrc": zrc, "scr": scr,
		"sca": sca, "scn": scn, "str": str, "sta": sta, "scj": scj, "ser": ser}
	// Rows: event, then the cell of states 0-9 (the "r", "p" and "x"
	// marks dropped).
	rfc := [][11]string{
		{"Up", "2", "irc,scr/6", "-", "-", "-", "-", "-", "-", "-", "-"},
		{"Down", "-", "-", "0", "tls/1", "0", "1", "1", "1", "1", "tld/1"},
		{"Open", "tls/1", "1", "irc,scr/6", "3", "5", "5", "6", "7", "8", "9"},
		{"Close", "0", "tlf/0", "2", "2", "4", "4", "irc,str/4", "irc,str/4", "irc,str/4", "tld,irc,str/4"},
		{"TO+", "-", "-", "-", "-", "str/4", "str/5", "scr/6", "scr/6", "scr/8", "-"},
		{"TO-", "-", "-", "-", "-", "tlf/2", "tlf/3", "tlf/3", "tlf/3", "tlf/3", "-"},
		{"RCR+", "-", "-", "sta/2", "irc,scr,sca/8", "4", "5", "sca/8", "sca,tlu/9", "sca/8", "tld,scr,sca/8"},
		{"RCR-", "-", "-", "sta/2", "irc,scr,scn/6", "4", "5", "scn/6", "scn/7", "scn/6", "tld,scr,scn/6"},
		{"RCA", "-", "-", "sta/2", "sta/3", "4", "5", "irc/7", "scr/6", "irc,tlu/9", "tld,scr/6"},
		{"RCN", "-", "-", "sta/2", "sta/3", "4", "5", "irc,scr/6", "scr/6", "irc,scr/8", "tld,scr/6"},
		{"RTR", "-", "-", "sta/2", "sta/3", "sta/4", "sta/5", "sta/6", "sta/6", "sta/6", "tld,zrc,sta/5"},
		{"RTA", "-", "-", "2", "3", "tlf/2", "tlf/3", "6", "6", "8", "tld,scr/6"},
		{"RUC", "-", "-", "scj/2", "scj/3", "scj/4", "scj/5", "scj/6", "scj/7", "scj/8", "scj/9"},
		{"RXJ+", "-", "-", "2", "3", "4", "5", "6", "6", "8", "9"},
		{"RXJ-", "-", "-", "tlf/2", "tlf/3", "tlf/2", "tlf/3", "tlf/3", "tlf/3", "tlf/3", "tld,irc,str/5"},
		{"RXR", "-", "-", "2", "3", "4", "5", "6", "7", "8", "ser/9"},
	}
	cells := 0
	for _, row := range rfc {
		e := names[row[0]]
		for s := state(0); s < numStates; s++ {
			cell := row[1+s]
			got := table[s][e]
			if cell == "-" {
				if got.ok {
					t.Errorf("%v in %v: the RFC has no transition, the table %+v", row[0], s, got)
				}
				continue
			}
			cells++
			var want []action
			next := cell
			if i := len(cell) - 2; i > 0 && cell[i] == '/' {
				for _, a := range splitComma(cell[:i]) {
					want = append(want, acts[a])
				}
				next = cell[i+1:]
			}
			if !got.ok || int(got.next) != int(next[0]-'0') || !slices.Equal(got.acts, want) {
				t.Errorf("%v in %v: RFC %q, table next %v acts %v", row[0], s, cell, got.next, got.acts)
			}
		}
	}
	if cells != 120 {
		t.Errorf("%d cells checked", cells)
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestRestartCounter: a silent peer gets Max-Configure requests 3 s
// apart, then the layer finishes; Close sends Max-Terminate requests.
func TestRestartCounter(t *testing.T) {
	s := newSession(t, Config{Username: "u", Password: "p"})
	n := len(s.Open(epoch))
	now := epoch
	for !s.Deadline().IsZero() && n < 50 {
		if d := s.Deadline().Sub(now); d != restartTimer {
			t.Fatalf("retransmission after %v", d)
		}
		now = s.Deadline()
		n += len(s.Tick(now))
	}
	if n != maxConfigure {
		t.Errorf("%d Configure-Requests, want %d", n, maxConfigure)
	}
	ev := s.Events()
	if len(ev) != 1 || ev[0].(Down).Reason != "the link could not be established (no LCP agreement with the concentrator)" {
		t.Fatalf("events %+v", ev)
	}
}
