package config

// Diff returns the commands that differ between old and new, for
// "show | compare": "- set ..." for a line only in old, "+ set ..." for a
// line only in new, in schema order (a changed value shows as its "-" line
// followed by its "+" line). A nil config counts as New(). Equal configs
// give no lines.
func Diff(old, new *Config) []string {
	if old == nil {
		old = New()
	}
	if new == nil {
		new = New()
	}
	a, b := old.Commands(), new.Commands()
	// Longest common subsequence; configurations are small.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i++
			j++
		case j == len(b) || (i < len(a) && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	return out
}
