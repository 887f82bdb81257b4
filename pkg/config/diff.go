package config

// Diff returns the commands that differ between old and new, for
// "show | compare": "- set ..." for a line only in old, "+ set ..." for a
// line only in new, in schema order (a changed value shows as its "-" line
// followed by its "+" line). A nil config counts as New(). Equal configs
// give no lines. Secrets are masked (a changed one shows as changed).
func Diff(old, new *Config) []string {
	if old == nil {
		old = New()
	}
	if new == nil {
		new = New()
	}
	old, new = maskedPair(old, new)
	a, b := old.Commands(), new.Commands()
	var out []string
	for _, op := range align(a, b) {
		switch {
		case op.i < 0:
			out = append(out, "+ "+b[op.j])
		case op.j < 0:
			out = append(out, "- "+a[op.i])
		}
	}
	return out
}

// maxLCSCells bounds the table of align's longest common subsequence
// (4 bytes a cell): a configuration of thousands of lines (port forwards)
// is compared by key instead, in linear time and memory.
const maxLCSCells = 1 << 20

// step is one step of an alignment: a[i] and b[j] are the same (both set),
// or a[i] is only in a (j < 0), or b[j] only in b (i < 0).
type step struct{ i, j int }

// align aligns two sequences of keys by their longest common subsequence
// (a removal before the addition it pairs with); when that table would be
// too large, by key: matches in a's order with a's removals among them,
// then b's additions.
func align(a, b []string) []step {
	if (len(a)+1)*(len(b)+1) > maxLCSCells {
		return alignByKey(a, b)
	}
	w := len(b) + 1
	lcs := make([]int32, (len(a)+1)*w)
	at := func(i, j int) int32 { return lcs[i*w+j] }
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = at(i+1, j+1) + 1
			} else {
				lcs[i*w+j] = max(at(i+1, j), at(i, j+1))
			}
		}
	}
	var out []step
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, step{i, j})
			i++
			j++
		case j == len(b) || (i < len(a) && at(i+1, j) >= at(i, j+1)):
			out = append(out, step{i, -1})
			i++
		default:
			out = append(out, step{-1, j})
			j++
		}
	}
	return out
}

func alignByKey(a, b []string) []step {
	where := make(map[string][]int, len(b))
	for j, k := range b {
		where[k] = append(where[k], j)
	}
	used := make([]bool, len(b))
	var out []step
	for i, k := range a {
		if js := where[k]; len(js) > 0 {
			out = append(out, step{i, js[0]})
			used[js[0]] = true
			where[k] = js[1:]
			continue
		}
		out = append(out, step{i, -1})
	}
	for j := range b {
		if !used[j] {
			out = append(out, step{-1, j})
		}
	}
	return out
}
