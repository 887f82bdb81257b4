# passgate — the two commands a user needs are `make run` and `make test`.
# Both install what they need themselves: Debian packages in one step
# (`make deps`), then Go modules.

GO      ?= go
BOARD   ?= qemu-arm64
OUT     ?= out
PKGS    := ./...

.PHONY: all deps test unit lint bench fuzz run image update interop clean distclean go-deps boards

all: test

# Every Debian package the project needs: building, testing, `make run`,
# images and the labs. internal/sysdeps names the program each provides and
# its test keeps this list, the code and README.md in step. Tests and tools
# only check for these programs and name `make deps` when one is missing:
# none of them runs apt, so parallel test packages never meet at dpkg's lock.
DEBIAN_PACKAGES := \
	mtools kmod dpkg apt cpio \
	make gcc libc6-dev gcc-aarch64-linux-gnu bc flex bison xz-utils \
	qemu-system-arm qemu-system-x86 debootstrap \
	iproute2 ethtool isc-dhcp-client busybox udhcpc dnsmasq curl iperf3 \
	coturn traceroute socat iputils-ping nftables openssh-client \
	ssh-audit whois ndisc6 kea-dhcp6-server radvd nmap bind9-dnsutils natpmpc dnsperf \
	miniupnpc unbound chromium u-boot-tools python3

# One apt-get install of what is missing (apt-get update first, only then);
# dpkg's lock is waited for, so an unattended upgrade running at the same
# time delays the install instead of breaking it. Mirrors are the machine's
# own apt sources.
APT := apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -qx 'install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	missing=$$(echo $$missing); \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make deps: missing Debian packages: $$missing"; \
	  echo "make deps: run it as root (or: sudo apt-get install --no-install-recommends $$missing)"; \
	  exit 1; \
	fi; \
	echo "make deps: installing Debian packages: $$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$(APT) update && $(APT) install -y --no-install-recommends $$missing

go-deps:
	$(GO) mod download
	cd firmware/tools && $(GO) mod download

# The whole suite: formatting, vet, unit and end-to-end tests (namespaces,
# QEMU boot tests), then the VPN interop lab.
test: deps go-deps lint boards unit interop

# Every board's pinned Debian packages fetched and checked, and the kernel
# passgate builds itself (qemu-arm64's: about 3 minutes on two cores, once;
# cached under .cache/kernel), before the tests: no test package then
# builds a kernel while the others run.
boards: deps go-deps
	$(GO) run ./cmd/passgate check -all

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags interop ./qemu/interop/

# Tests keep what they produce for people under out/test/_artifacts (the
# web page's screenshots, for one).
unit: deps
	@mkdir -p out/test
	$(GO) test -count=1 -timeout 20m -artifacts -outputdir $(CURDIR)/out/test $(PKGS)

# VPN interop lab: real VPN clients (PPTP, L2TP/IPsec, IKEv1/IKEv2 with raw
# ESP and NAT-T, OpenVPN, WireGuard) through routerd and through the kernel's
# nftables NAT, in an x86_64 QEMU VM (root; about 7 minutes; the VM image is
# cached under .cache/interop). Prints the table of docs/interop.md.
interop: deps go-deps
	$(GO) test -tags interop -count=1 -v -timeout 45m -run TestInterop ./qemu/interop/

# Micro-benchmarks of the packet path and the AF_PACKET rings, then routerd
# side by side with the kernel (nftables masquerade; IPv6: an ip6 stateful
# filter) in network namespaces,
# offloads off and at the veth defaults (needs root).
# Figures go to docs/performance.md.
bench: deps go-deps
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/packet/ ./pkg/nat/... ./pkg/fw6/
	$(GO) test -run '^$$' -bench 'Ring|SuperPackets|PingPong' ./pkg/afpacket/
	$(GO) test -run '^$$' -bench SideBySide -benchtime 1x -timeout 40m ./cmd/routerd/
	$(GO) test -run '^$$' -bench CacheSideBySide -benchtime 1x ./pkg/dnsfwd/

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
image: deps go-deps
	$(GO) run ./cmd/passgate image -board $(BOARD) -out $(OUT)

# Signed firmware update file for a board: make update BOARD=rpi4
# [VERSION=1.2.0] (default: git describe). The signing key is made on
# first use in ~/.config/passgate/ (its path is printed; keep it out of
# git); images built from then on accept only updates signed with it.
update: deps go-deps
	$(GO) run ./cmd/passgate update -board $(BOARD) -out $(OUT) $(if $(VERSION),-version $(VERSION))

# Build the default board and boot it in QEMU, console on this terminal
# (needs root: the LAN side is a tap in network namespace passgate-lan).
run: deps go-deps
	$(GO) run ./cmd/passgate run -board $(BOARD) -out $(OUT)

clean:
	rm -rf $(OUT)

# Also drop the downloaded Debian packages and the tool cache.
distclean: clean
	rm -rf .cache
