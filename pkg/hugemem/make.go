package hugemem

import (
	"fmt"
	"reflect"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// MinBytes is the size from which Make maps memory of its own: below one
// huge page the Go heap serves as well.
const MinBytes = 2 << 20

var mapped atomic.Int64

// Mapped is how many bytes of the slices Make has mapped are live: virtual
// memory, committed as it is touched (each mapping also reserves up to one
// huge page more, never touched).
func Mapped() int64 { return mapped.Load() }

// Make returns a zeroed slice of n T's that lives as long as owner. Slices
// of at least MinBytes are mapped outside the Go heap and advised for
// transparent huge pages; smaller ones, or any when mapping fails, come
// from the Go heap. It panics if T holds pointers, a programming error.
func Make[T any, O any](owner *O, n int) []T {
	var zero T
	if hasPointers(reflect.TypeOf(zero)) {
		panic(fmt.Sprintf("hugemem: %T holds pointers", zero))
	}
	size := uintptr(n) * unsafe.Sizeof(zero)
	if n <= 0 || size < MinBytes || size/unsafe.Sizeof(zero) != uintptr(n) {
		return make([]T, n)
	}
	mem, raw, err := mapHuge(int(size))
	if err != nil {
		return make([]T, n)
	}
	mapped.Add(int64(size))
	runtime.AddCleanup(owner, func(raw []byte) {
		unmap(raw)
		mapped.Add(-int64(size))
	}, raw)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n)
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}
