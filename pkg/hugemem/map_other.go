//go:build !linux

package hugemem

import "errors"

func mapHuge(int) (mem, raw []byte, err error) {
	return nil, nil, errors.New("hugemem: not on this system")
}

func unmap([]byte) {}
