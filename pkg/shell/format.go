package shell

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/config"
)

// Everything the shell prints fits in 80 columns (79 used, so a terminal
// that wraps at the last column never adds blank lines).

// wrap breaks text at spaces so that no line is longer than width; lines
// after the first start with indent. Existing newlines are kept. A word
// longer than the width stays whole. It takes time linear in the text
// (an error message may quote a whole command line).
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	b.Grow(len(text) + len(text)/max(width, 1)*(len(indent)+1))
	ind := []rune(indent)
	for pi, para := range strings.Split(text, "\n") {
		if pi > 0 {
			b.WriteByte('\n')
		}
		rs := []rune(para)
		// The output line being broken is ind[:lead] + rs[start:].
		lead, start := 0, 0
		at := func(c int) rune {
			if c < lead {
				return ind[c]
			}
			return rs[start+c-lead]
		}
		for n := len(rs) - start; lead+n > width; n = len(rs) - start {
			// Break at the last space that fits, keeping the spacing
			// inside the line (aligned columns).
			cut := -1
			for i := width; i > len(ind); i-- {
				if at(i) == ' ' {
					cut = i
					break
				}
			}
			if cut < 0 {
				// No space: break after the long word.
				for i := max(width, lead); i < lead+n; i++ {
					if at(i) == ' ' {
						cut = i
						break
					}
				}
				if cut < 0 {
					break
				}
			}
			// head is the line up to cut without its trailing spaces,
			// rest what follows without its leading ones.
			headEnd := start + cut - lead
			restAt := headEnd
			for restAt < len(rs) && rs[restAt] == ' ' {
				restAt++
			}
			for headEnd > start && rs[headEnd-1] == ' ' {
				headEnd--
			}
			head := string(ind[:lead]) + string(rs[start:headEnd])
			if headEnd == start {
				head = strings.TrimRight(head, " ")
			}
			if restAt == len(rs) {
				lead, start = 0, len(rs)
				b.WriteString(head)
				break
			}
			b.WriteString(head)
			b.WriteByte('\n')
			lead, start = len(ind), restAt
		}
		b.WriteString(string(ind[:lead]))
		b.WriteString(string(rs[start:]))
	}
	return b.String()
}

// helpList formats candidates as "word  help" lines for "?".
func helpList(cs []config.Candidate, width int) string {
	w := 0
	for _, c := range cs {
		w = max(w, utf8.RuneCountInString(c.Word))
	}
	w = min(w, 24)
	var b strings.Builder
	for _, c := range cs {
		word := c.Word
		pad := w - utf8.RuneCountInString(word)
		if pad < 0 {
			// A long word gets its own line; the help goes below.
			fmt.Fprintf(&b, "  %s\n", word)
			word, pad = "", w
		}
		lead := "  " + word + strings.Repeat(" ", pad) + "  "
		b.WriteString(wrap(lead+c.Help, width, strings.Repeat(" ", len(lead))))
		b.WriteByte('\n')
	}
	return b.String()
}

// columns lays words out in columns (double Tab).
func columns(ws []string, width int) string {
	w := 0
	for _, s := range ws {
		w = max(w, utf8.RuneCountInString(s))
	}
	w += 2
	per := max(1, width/w)
	rows := (len(ws) + per - 1) / per
	var b strings.Builder
	for r := 0; r < rows; r++ {
		var line strings.Builder
		for c := 0; c < per; c++ {
			i := c*rows + r
			if i >= len(ws) {
				break
			}
			line.WriteString(ws[i])
			line.WriteString(strings.Repeat(" ", w-utf8.RuneCountInString(ws[i])))
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// table prints rows under a header, columns as wide as their widest cell,
// two spaces apart. A row may be followed by detail lines.
type table struct {
	head  []string
	rows  [][]string
	notes map[int][]string // detail lines after row i
	width int
}

func newTable(width int, head ...string) *table {
	return &table{head: head, notes: map[int][]string{}, width: width}
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// note adds a detail line under the last row.
func (t *table) note(format string, a ...any) {
	i := len(t.rows) - 1
	t.notes[i] = append(t.notes[i], fmt.Sprintf(format, a...))
}

func (t *table) String() string {
	ws := make([]int, len(t.head))
	for i, h := range t.head {
		ws[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			if i < len(ws) {
				ws[i] = max(ws[i], utf8.RuneCountInString(c))
			}
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			l.WriteString(c)
			if i < len(cells)-1 {
				l.WriteString(strings.Repeat(" ", ws[i]-utf8.RuneCountInString(c)+2))
			}
		}
		s := strings.TrimRight(l.String(), " ")
		if t.width > 0 && utf8.RuneCountInString(s) > t.width {
			s = string([]rune(s)[:t.width])
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	line(t.head)
	for i, r := range t.rows {
		line(r)
		for _, n := range t.notes[i] {
			b.WriteString(wrap("  "+n, t.width, "    "))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// dur formats a duration compactly: 42s, 5m07s, 1h02m, 3d04h.
func dur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// longDur formats an uptime: "3 days, 4:05:06".
func longDur(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	days := s / 86400
	hms := fmt.Sprintf("%d:%02d:%02d", s%86400/3600, s%3600/60, s%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	}
	return fmt.Sprintf("%d days, %s", days, hms)
}

// size formats a byte or packet count compactly: 999, 1.2K, 34.5M, 6.7G.
func size(n uint64) string {
	const units = "KMGTPE"
	if n < 1000 {
		return fmt.Sprintf("%d", n)
	}
	f := float64(n)
	i := -1
	for f >= 999.95 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.1f%c", f, units[i])
}

// mib formats a memory size in MiB or GiB.
func mib(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// counterList prints name/value pairs in two columns.
func counterList(cs []Counter, width int) string {
	if len(cs) == 0 {
		return "  (none)\n"
	}
	nw, vw := 0, 0
	for _, c := range cs {
		nw = max(nw, utf8.RuneCountInString(c.Name))
		vw = max(vw, len(fmt.Sprint(c.Value)))
	}
	cell := func(c Counter) string {
		return fmt.Sprintf("%-*s %*d", nw, c.Name, vw, c.Value)
	}
	cw := nw + 1 + vw
	per := 1
	if 2+cw+4+cw <= width {
		per = 2
	}
	rows := (len(cs) + per - 1) / per
	var b strings.Builder
	for r := 0; r < rows; r++ {
		b.WriteString("  " + cell(cs[r]))
		if per == 2 && r+rows < len(cs) {
			b.WriteString("    " + cell(cs[r+rows]))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
