package passthrough

// lruLinks are the intrusive links of a PPTP call, an ESP or a shared-IKE
// SA in one idle list; the list is ordered by lastSeen (seconds), so expiry pops
// from the front and stops at the first record still live: O(1) per
// record, no scan, no copying.
type lruLinks[T any] struct {
	prev, next *T
	on         *lruList[T]
}

type lruList[T any] struct {
	head, tail *T
	n          int
	links      func(*T) *lruLinks[T]
}

func (l *lruList[T]) pushBack(x *T) {
	lx := l.links(x)
	lx.prev, lx.next, lx.on = l.tail, nil, l
	if l.tail != nil {
		l.links(l.tail).next = x
	} else {
		l.head = x
	}
	l.tail = x
	l.n++
}

func (l *lruList[T]) unlink(x *T) {
	lx := l.links(x)
	if lx.on != l {
		return
	}
	if lx.prev != nil {
		l.links(lx.prev).next = lx.next
	} else {
		l.head = lx.next
	}
	if lx.next != nil {
		l.links(lx.next).prev = lx.prev
	} else {
		l.tail = lx.prev
	}
	lx.prev, lx.next, lx.on = nil, nil, nil
	l.n--
}

// touch moves x to the back (most recently seen).
func (l *lruList[T]) touch(x *T) {
	if l.tail == x {
		return
	}
	l.unlink(x)
	l.pushBack(x)
}

// tickBudget bounds the records one Tick removes per list; the rest go on
// the next Tick (a second later), so one Tick's cost stays bounded.
const tickBudget = 4096
