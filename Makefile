# passgate — the two commands a user needs are `make run` and `make test`.
# Both install what they need themselves (Debian packages, Go modules).

GO      ?= go
BOARD   ?= qemu-arm64
OUT     ?= out
PKGS    := ./...

.PHONY: all test unit lint bench fuzz run image interop clean distclean go-deps

all: test

go-deps:
	$(GO) mod download
	cd firmware/tools && $(GO) mod download

# The whole suite: formatting, vet, unit and end-to-end tests (namespaces,
# QEMU boot tests), then the VPN interop lab.
test: go-deps lint unit interop

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags interop ./qemu/interop/

unit:
	$(GO) test -count=1 $(PKGS)

# VPN interop lab: real VPN clients (PPTP, L2TP/IPsec, IKEv1/IKEv2 with raw
# ESP and NAT-T, OpenVPN, WireGuard) through routerd and through the kernel's
# nftables NAT, in an x86_64 QEMU VM (root; about 7 minutes; the VM image is
# cached under .cache/interop). Prints the table of docs/interop.md.
interop: go-deps
	$(GO) test -tags interop -count=1 -v -timeout 45m -run TestInterop ./qemu/interop/

# Micro-benchmarks of the packet path, then routerd side by side with the
# kernel's nftables masquerade in network namespaces (needs root).
# Figures go to docs/performance.md.
bench: go-deps
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/packet/ ./pkg/nat/...
	$(GO) test -run '^$$' -bench SideBySide -benchtime 1x ./cmd/routerd/

# Run every fuzz target for FUZZTIME each (default 30s); the corpus found is
# kept under testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./pkg/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# SD-card image for a board: make image BOARD=rpi4 (qemu-arm64, rpi3, rpi4, rock-pi-e).
image: go-deps
	$(GO) run ./cmd/passgate image -board $(BOARD) -out $(OUT)

# Build the default board and boot it in QEMU, console on this terminal
# (needs root: the LAN side is a tap in network namespace passgate-lan).
run: go-deps
	$(GO) run ./cmd/passgate run -board $(BOARD) -out $(OUT)

clean:
	rm -rf $(OUT)

# Also drop the downloaded Debian packages and the tool cache.
distclean: clean
	rm -rf .cache
