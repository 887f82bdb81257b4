package passthrough

// ownerRef counts the records sharing one key of an ambiguity-aware
// index, and names the record when there is exactly one. A key two
// records share names none until it is free again, so a lookup never
// picks one of two at random.
type ownerRef[T any] struct {
	only *T
	n    int
}

func ref[K comparable, T any](m map[K]ownerRef[T], k K, v *T) {
	r := m[k]
	r.n++
	if r.n == 1 {
		r.only = v
	} else {
		r.only = nil
	}
	m[k] = r
}

func unref[K comparable, T any](m map[K]ownerRef[T], k K, v *T) {
	r, ok := m[k]
	if !ok {
		return
	}
	if r.n--; r.n <= 0 {
		delete(m, k)
		return
	}
	if r.only == v {
		r.only = nil
	}
	m[k] = r
}
