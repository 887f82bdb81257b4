package webui

import (
	"errors"
	"html/template"
	"net"
	"testing"
)

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }
