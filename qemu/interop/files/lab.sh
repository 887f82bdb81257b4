#!/bin/sh
# The interop lab, run inside the VM as /lab/run.sh by the VM's init.
#
# For each NAT in $NATS (routerd, kernel) it builds the lab topology —
# clients lan1 (192.168.1.10) and lan2 (192.168.1.11) on a bridge in sw,
# the NAT in rtr (LAN 192.168.1.1, WAN 203.0.113.2), the VPN servers in
# wan (203.0.113.1) — and runs each case in $CASES with real VPN software.
# A case prints "RESULT <nat> <case> PASS|FAIL|N/A <detail>" and appends
# the line to /lab/results.txt; the logs of a failed case are copied to
# /lab/logs/<nat>-<case>/ and their tails printed.
#
# Every process a case starts is recorded (PID) and killed when the case
# ends; every namespace is deleted when the NAT's run ends.

L=/lab
. $L/params
W=/tmp/lab
RES=$L/results.txt
PSK=interop-lab-psk-0123456789
PPPUSER=labuser
PPPPASS=labpass
: "${NATS:=routerd kernel}"
: "${CASES:=raw-esp ikev2-natt-rekey pptp l2tp-ipsec ikev1-natt openvpn wireguard l2tp switch-pptp switch-l2tp switch-ipsec}"
: "${KEEP_LOGS:=fail}"
mkdir -p $W $L/logs
: > $RES

say() { echo "lab: $*"; }
now() { cut -d' ' -f1 /proc/uptime; }

PIDS=""
# bg NS LOG CMD...: run CMD in namespace NS in the background, output to
# LOG; its PID is recorded and killed at the end of the case.
bg() {
	_ns=$1 _log=$2
	shift 2
	ip netns exec "$_ns" "$@" >>"$_log" 2>&1 </dev/null &
	PIDS="$PIDS $!"
	LASTPID=$!
}
# bgpriv NS LOG CMD...: as bg, with a private /run (a mount namespace of
# its own), for daemons that keep fixed-name sockets and PID files there.
bgpriv() {
	_ns=$1 _log=$2
	shift 2
	ip netns exec "$_ns" unshare -m sh -c 'mount -t tmpfs lab-run /run && mkdir -p /run/lock && exec "$@"' sh "$@" >>"$_log" 2>&1 </dev/null &
	PIDS="$PIDS $!"
	LASTPID=$!
}
killpid() {
	kill "$1" 2>/dev/null
	for _i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$1" 2>/dev/null || return 0; sleep 0.3; done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
killall_case() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 1
	for p in $PIDS; do
		kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=""
	# Children that left their parent (pppd spawned by pptpd/xl2tpd,
	# pptp's call manager) are found by their namespace.
	for n in lan1 lan2 wan; do
		for p in $(ip netns pids $n 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
}

# waitfor SECONDS CMD...: poll CMD until it succeeds.
waitfor() {
	_t=$1
	shift
	_end=$(($(date +%s) + _t))
	while [ "$(date +%s)" -lt $_end ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
hasaddr() { ip -n "$1" -4 addr show dev "$2" 2>/dev/null | grep -q inet; }

# pingok NS SRC DST: 4 echo requests; prints "NS:received/4".
pingcount() {
	_src=""
	[ -n "$2" ] && _src="-I $2"
	ip netns exec "$1" ping -n -c 4 -i 0.5 -W 3 $_src "$3" 2>&1 | sed -n 's/.* \([0-9]*\) received.*/\1/p'
}
# pingboth NS1 SRC1 NS2 SRC2 DST...: both clients ping at the same time;
# sets PING_DETAIL and returns 0 if each got at least one reply.
pingboth() {
	pingcount "$1" "$2" "$5" >$W/p1 &
	_p1=$!
	pingcount "$3" "$4" "${6:-$5}" >$W/p2 &
	_p2=$!
	wait $_p1 $_p2
	_r1=$(cat $W/p1) _r2=$(cat $W/p2)
	PING_DETAIL="$1:${_r1:-0}/4,$3:${_r2:-0}/4"
	[ "${_r1:-0}" -gt 0 ] && [ "${_r2:-0}" -gt 0 ]
}

result() { # CASE VERDICT DETAIL
	echo "RESULT $NAT $1 $2 $3" | tee -a $RES
	# The NAT's view at the end of every case, as evidence.
	mkdir -p $L/logs/$NAT-$1
	natstate >$L/logs/$NAT-$1/nat-state.txt 2>&1
	if [ "$2" = FAIL ] || [ "$KEEP_LOGS" = all ]; then
		mkdir -p $L/logs/$NAT-$1
		cp -r $W/c/. $L/logs/$NAT-$1/ 2>/dev/null
	fi
	if [ "$2" = FAIL ]; then
		for f in $W/c/*.log; do
			[ -s "$f" ] || continue
			echo "----- $NAT $1: tail of $(basename $f)"
			tail -n 25 "$f"
		done
		echo "----- $NAT $1: NAT state"
		natstate
	fi
}

# ---------------------------------------------------------------- topology

veth() { # NS_A IF_A NS_B IF_B
	ip link add vlab0 type veth peer name vlab1
	ip link set vlab0 netns "$1"
	ip link set vlab1 netns "$3"
	ip -n "$1" link set vlab0 name "$2"
	ip -n "$3" link set vlab1 name "$4"
	# routerd reads frames with AF_PACKET: no partial checksums.
	ip netns exec "$1" ethtool -K "$2" tx off >/dev/null
	ip netns exec "$3" ethtool -K "$4" tx off >/dev/null
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
	[ "$3" = sw ] && ip -n sw link set "$4" master br0
}

topo_up() {
	for n in sw rtr lan1 lan2 wan; do
		ip netns add $n
		ip -n $n link set lo up
	done
	ip -n sw link add br0 type bridge
	ip -n sw link set br0 up
	veth rtr eth0 sw r0
	veth lan1 eth0 sw l1
	veth lan2 eth0 sw l2
	veth rtr eth1 wan eth0
	ip -n lan1 addr add 192.168.1.10/24 dev eth0
	ip -n lan2 addr add 192.168.1.11/24 dev eth0
	ip -n lan1 route add default via 192.168.1.1
	ip -n lan2 route add default via 192.168.1.1
	ip -n wan addr add 203.0.113.1/24 dev eth0
	# Tunnel inner addresses: the clients' and the server's networks.
	ip -n lan1 addr add 10.99.1.10/32 dev lo
	ip -n lan2 addr add 10.99.2.10/32 dev lo
	ip -n wan addr add 172.16.0.1/24 dev lo
	ip -n wan route add default via 203.0.113.2
	case $NAT in
	routerd) routerd_up ;;
	kernel) kernel_up ;;
	esac
}

topo_down() {
	killall_case
	[ -n "${RTRPID:-}" ] && killpid $RTRPID
	RTRPID=""
	for n in sw rtr lan1 lan2 wan; do
		for p in $(ip netns pids $n 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del $n 2>/dev/null
	done
}

routerd_up() {
	mkdir -p $W/rtr
	cat >$W/rtr/passgate.conf <<-EOF
	set system hostname interop
	set interfaces lan device eth0
	set interfaces lan address 192.168.1.1/24
	set interfaces wan device eth1
	set interfaces wan mode static
	set interfaces wan address 203.0.113.2/24
	set interfaces wan gateway 203.0.113.1
	set passthrough pptp enable
	set passthrough l2tp enable
	set passthrough ipsec enable
	set passthrough ipsec esp-mode spi-learning
	EOF
	: >$W/rtr/routerd.log
	ip netns exec rtr $L/routerd --config $W/rtr/passgate.conf --socket $W/rtr/shell.sock >>$W/rtr/routerd.log 2>&1 </dev/null &
	RTRPID=$!
	if ! waitfor 60 grep -q "passgate ready:" $W/rtr/routerd.log; then
		say "routerd did not start:"
		cat $W/rtr/routerd.log
		return 1
	fi
	say "routerd ready at $(now)s"
}

rshell() { ip netns exec rtr $L/routerd shell -socket $W/rtr/shell.sock -c "$1"; }

kernel_up() {
	ip -n rtr addr add 192.168.1.1/24 dev eth0
	ip -n rtr addr add 203.0.113.2/24 dev eth1
	ip -n rtr route add default via 203.0.113.1
	ip netns exec rtr sysctl -qw net.ipv4.ip_forward=1
	ip netns exec rtr nft -f - <<-'EOF'
	table ip nat {
		chain postrouting {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "eth1" masquerade
		}
	}
	table ip helpers {
		ct helper pptp {
			type "pptp" protocol tcp;
		}
		chain prerouting {
			type filter hook prerouting priority filter; policy accept;
			iifname "eth0" tcp dport 1723 ct helper set "pptp"
		}
	}
	EOF
}

# natstate prints the NAT's view (sessions / conntrack) for failure logs.
natstate() {
	case $NAT in
	routerd) rshell "show passthrough" 2>&1 | head -60 ;;
	kernel)
		ip netns exec rtr conntrack -L 2>&1 | head -60
		ip netns exec rtr conntrack -S 2>&1
		;;
	esac
}

# natnote: for the kernel, conntrack's insert_failed and drop counters
# (a second raw-ESP client's packets clash on the reply tuple there).
natnote() {
	[ "$NAT" = kernel ] || return 0
	ip netns exec rtr conntrack -S 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "insert_failed") f += kv[2]; if (kv[1] == "drop") d += kv[2] } } END { printf "; conntrack insert_failed=%d drop=%d", f, d }'
}

# natflush forgets every flow between cases.
natflush() {
	case $NAT in
	routerd) rshell "clear nat sessions" >/dev/null 2>&1 ;;
	kernel) ip netns exec rtr conntrack -F >/dev/null 2>&1 ;;
	esac
}

# ---------------------------------------------------------------- strongSwan

# sw_start NS: charon in NS with its own strongswan.conf; the connection
# file is $W/c/NS-swanctl.conf.
sw_start() {
	_d=$W/sw-$1
	mkdir -p $_d
	cat >$_d/strongswan.conf <<-EOF
	charon {
		load_modular = yes
		port = 500
		port_nat_t = 4500
		retransmit_timeout = 2.0
		retransmit_tries = 4
		plugins {
			include /etc/strongswan.d/charon/*.conf
			vici {
				socket = unix://$_d/charon.vici
			}
		}
		filelog {
			lab {
				path = $W/c/$1-charon.log
				time_format = %T
				default = 1
				ike = 2
				knl = 1
			}
		}
		syslog {
			daemon {
				default = -1
			}
		}
	}
	swanctl {
		socket = unix://$_d/charon.vici
	}
	EOF
	rm -f $_d/charon.vici
	bgpriv "$1" $W/c/$1-charon.out env STRONGSWAN_CONF=$_d/strongswan.conf /usr/lib/ipsec/charon
	waitfor 30 test -S $_d/charon.vici || { say "charon in $1 did not start"; return 1; }
	ip netns exec "$1" env STRONGSWAN_CONF=$_d/strongswan.conf swanctl --load-all --noprompt --file $W/c/$1-swanctl.conf >>$W/c/$1-swanctl.log 2>&1
}
swctl() { # NS ARGS...
	_ns=$1
	shift
	ip netns exec "$_ns" env STRONGSWAN_CONF=$W/sw-$_ns/strongswan.conf swanctl "$@"
}

# ---------------------------------------------------------------- libreswan

LSW=/usr/libexec/ipsec
# lsw_start NS: pluto in NS with $W/c/NS-ipsec.conf and a PSK for any peer.
lsw_start() {
	_d=$W/lsw-$1
	rm -rf $_d
	mkdir -p $_d/run $_d/nss $_d/ipsec.d
	echo "%any %any : PSK \"$PSK\"" >$_d/ipsec.secrets
	certutil -N -d sql:$_d/nss --empty-password >/dev/null 2>&1
	bg "$1" $W/c/$1-pluto.log $LSW/pluto --nofork --stderrlog --config $W/c/$1-ipsec.conf \
		--secretsfile $_d/ipsec.secrets --nssdir $_d/nss --rundir $_d/run --ipsecdir $_d/ipsec.d
	waitfor 30 test -S $_d/run/pluto.ctl || { say "pluto in $1 did not start"; return 1; }
	ip netns exec "$1" $LSW/whack --ctlsocket $_d/run/pluto.ctl --listen >>$W/c/$1-whack.log 2>&1
	ip netns exec "$1" $LSW/addconn --ctlsocket $_d/run/pluto.ctl --config $W/c/$1-ipsec.conf --autoall >>$W/c/$1-whack.log 2>&1
}
lsw() { # NS ARGS...
	_ns=$1
	shift
	ip netns exec "$_ns" $LSW/whack --ctlsocket $W/lsw-$_ns/run/pluto.ctl "$@"
}

# ---------------------------------------------------------------- cases

# The IPsec cases share the addressing: client lanN has 10.99.N.10 (tunnel
# source), the server's protected network is 172.16.0.0/24 (172.16.0.1).

# libreswan, IKEv2 or IKEv1; $1 = ikev2=yes|no, $2 = encapsulation=...
lsw_configs() {
	for n in 1 2; do
		cat >$W/c/lan$n-ipsec.conf <<-EOF
		config setup
		    plutodebug=none
		    ikev1-policy=accept
		conn c
		    ikev2=$1
		    authby=secret
		    left=192.168.1.1$((n - 1))
		    leftid=@c$n.lab
		    leftsubnet=10.99.$n.10/32
		    right=203.0.113.1
		    rightid=@server.lab
		    rightsubnet=172.16.0.0/24
		    ike=aes128-sha2_256-modp2048
		    esp=aes128-sha2_256
		    encapsulation=$2
		    leftupdown=$LSW/_updown
		    retransmit-timeout=30s
		    auto=add
		EOF
	done
	{
		echo "config setup"
		echo "    plutodebug=none"
		echo "    ikev1-policy=accept"
		for n in 1 2; do
			cat <<-EOF
			conn c$n
			    ikev2=$1
			    authby=secret
			    left=203.0.113.1
			    leftid=@server.lab
			    leftsubnet=172.16.0.0/24
			    right=%any
			    rightid=@c$n.lab
			    rightsubnet=10.99.$n.10/32
			    ike=aes128-sha2_256-modp2048
			    esp=aes128-sha2_256
			    encapsulation=$2
			    leftupdown=$LSW/_updown
			    auto=add
			EOF
		done
	} >$W/c/wan-ipsec.conf
}

# lsw_case NAME IKEV2 ENCAPSULATION CHECK: both clients connect at once,
# ping through the tunnel; CHECK (raw|natt) checks how ESP travelled.
lsw_case() {
	lsw_configs "$2" "$3"
	lsw_start wan || { result $1 FAIL "pluto(server) did not start"; return; }
	lsw_start lan1 && lsw_start lan2 || { result $1 FAIL "pluto(client) did not start"; return; }
	lsw lan1 --name c --initiate >$W/c/lan1-initiate.log 2>&1 &
	_i1=$!
	lsw lan2 --name c --initiate >$W/c/lan2-initiate.log 2>&1 &
	_i2=$!
	wait $_i1 $_i2
	sleep 1 # the responder installs its SAs after the last message
	_up=0
	for n in 1 2; do
		ip -n lan$n xfrm state | grep -q "proto esp" && _up=$((_up + 1))
	done
	if ! pingboth lan1 10.99.1.10 lan2 10.99.2.10 172.16.0.1; then
		result $1 FAIL "tunnels up $_up/2; ping $PING_DETAIL$(natnote)"
		return
	fi
	_encap=$(ip -n lan1 xfrm state | grep -c "encap type espinudp")
	case $4 in
	raw) [ "$_encap" -eq 0 ] || { result $1 FAIL "ESP was UDP-encapsulated; ping $PING_DETAIL"; return; } ;;
	natt) [ "$_encap" -gt 0 ] || { result $1 FAIL "ESP was not UDP-encapsulated; ping $PING_DETAIL"; return; } ;;
	esac
	result $1 PASS "ping $PING_DETAIL; esp $4"
}

case_raw_esp() { lsw_case raw-esp yes no raw; }
case_ikev1_natt() { lsw_case ikev1-natt no yes natt; }

# strongSwan IKEv2 with NAT-T and a CHILD_SA and IKE_SA rekey.
sw_ikev2_configs() {
	for n in 1 2; do
		cat >$W/c/lan$n-swanctl.conf <<-EOF
		connections {
		    t {
		        version = 2
		        local_addrs = 192.168.1.1$((n - 1))
		        remote_addrs = 203.0.113.1
		        proposals = aes128-sha256-modp2048
		        rekey_time = ${IKE_REKEY:-0}
		        local {
		            auth = psk
		            id = c$n.lab
		        }
		        remote {
		            auth = psk
		            id = server.lab
		        }
		        children {
		            c {
		                local_ts = 10.99.$n.10/32
		                remote_ts = 172.16.0.0/24
		                esp_proposals = aes128-sha256-modp2048
		                rekey_time = ${CHILD_REKEY:-0}
		                life_time = 0
		                rand_time = 0
		            }
		        }
		    }
		}
		secrets {
		    ike-lab {
		        secret = $PSK
		    }
		}
		EOF
	done
	cat >$W/c/wan-swanctl.conf <<-EOF
	connections {
	    srv {
	        version = 2
	        local_addrs = 203.0.113.1
	        proposals = aes128-sha256-modp2048
	        local {
	            auth = psk
	            id = server.lab
	        }
	        remote {
	            auth = psk
	        }
	        children {
	            c {
	                local_ts = 172.16.0.0/24
	                remote_ts = 10.99.0.0/16
	                esp_proposals = aes128-sha256-modp2048
	            }
	        }
	    }
	}
	secrets {
	    ike-lab {
	        secret = $PSK
	    }
	}
	EOF
}

sw_up_both() { # CHILD: initiate in both clients at once
	swctl lan1 --initiate --child "$1" --timeout 90 >$W/c/lan1-initiate.log 2>&1 &
	_i1=$!
	swctl lan2 --initiate --child "$1" --timeout 90 >$W/c/lan2-initiate.log 2>&1 &
	_i2=$!
	wait $_i1
	_r1=$?
	wait $_i2
	_r2=$?
	[ $_r1 -eq 0 ] && [ $_r2 -eq 0 ]
}

spis() { ip -n "$1" xfrm state | sed -n 's/.*spi \(0x[0-9a-f]*\).*/\1/p' | sort | tr '\n' ' '; }

case_ikev2_natt_rekey() {
	CHILD_REKEY=25s IKE_REKEY=40s sw_ikev2_configs
	sw_start wan && sw_start lan1 && sw_start lan2 || { result ikev2-natt-rekey FAIL "charon did not start"; return; }
	if ! sw_up_both c; then
		result ikev2-natt-rekey FAIL "initiate failed: $(tail -n1 $W/c/lan1-initiate.log) / $(tail -n1 $W/c/lan2-initiate.log)"
		return
	fi
	if ! pingboth lan1 10.99.1.10 lan2 10.99.2.10 172.16.0.1; then
		result ikev2-natt-rekey FAIL "ping $PING_DETAIL"
		return
	fi
	_d1=$PING_DETAIL
	if ! ip -n lan1 xfrm state | grep -q "encap type espinudp sport 4500"; then
		result ikev2-natt-rekey FAIL "ESP not in UDP 4500"
		return
	fi
	_s1=$(spis lan1) _s2=$(spis lan2)
	# Both SAs rekey (CHILD_SA at 25 s, IKE_SA at 40 s); keep traffic flowing.
	_end=$(($(date +%s) + 120))
	while [ "$(date +%s)" -lt $_end ]; do
		if [ "$(grep -c 'CHILD_SA c{[0-9]*} established' $W/c/lan1-charon.log)" -ge 2 ] &&
			[ "$(grep -c 'CHILD_SA c{[0-9]*} established' $W/c/lan2-charon.log)" -ge 2 ] &&
			grep -q "rekeying IKE_SA\|IKE_SA t\[[0-9]*\] rekeyed\|reauthenticating" $W/c/lan1-charon.log; then
			break
		fi
		sleep 3
	done
	sleep 3
	_n1=$(spis lan1) _n2=$(spis lan2)
	if [ "$_s1" = "$_n1" ] || [ "$_s2" = "$_n2" ]; then
		result ikev2-natt-rekey FAIL "no CHILD_SA rekey seen in 120 s (SPIs lan1 '$_n1' lan2 '$_n2')"
		return
	fi
	if ! pingboth lan1 10.99.1.10 lan2 10.99.2.10 172.16.0.1; then
		result ikev2-natt-rekey FAIL "before rekey $_d1; after rekey ping $PING_DETAIL"
		return
	fi
	_ike="IKE_SA rekey not seen"
	grep -q "IKE_SA t\[[0-9]*\] rekeyed\|rekeyed IKE_SA\|IKE_SA rekeyed" $W/c/lan1-charon.log $W/c/wan-charon.log && _ike="IKE_SA rekeyed"
	result ikev2-natt-rekey PASS "ping $_d1; CHILD_SA rekeyed (new SPIs), $_ike; ping after rekey $PING_DETAIL"
}

# PPTP: pptp-linux + pppd clients, pptpd server, MS-CHAPv2 + MPPE-128.
pptp_server() {
	cat >$W/c/pptpd-options <<-EOF
	name pptpd
	refuse-pap
	refuse-chap
	refuse-mschap
	require-mschap-v2
	require-mppe-128
	nodefaultroute
	noipx
	nobsdcomp
	nodeflate
	novj
	novjccomp
	lcp-echo-interval 0
	logfile $W/c/wan-pppd.log
	EOF
	cat >$W/c/pptpd.conf <<-EOF
	option $W/c/pptpd-options
	localip 192.168.50.1
	remoteip 192.168.50.10-30
	EOF
	bgpriv wan $W/c/wan-pptpd.log pptpd --fg --conf $W/c/pptpd.conf
	sleep 1
}
ppp_secrets() {
	mkdir -p /etc/ppp
	printf '%s * %s *\n' $PPPUSER $PPPPASS >/etc/ppp/chap-secrets
	chmod 600 /etc/ppp/chap-secrets
}
# pptp_client NS: pppd over pptp in NS; PID in LASTPID.
pptp_client() {
	bgpriv "$1" $W/c/$1-pptp.log pppd pty "pptp 203.0.113.1 --nolaunchpppd --loglevel 1" \
		name $PPPUSER remotename pptpd require-mppe-128 refuse-eap refuse-pap refuse-chap noauth \
		nodefaultroute noipdefault nodetach lcp-echo-interval 0 logfile $W/c/$1-pppd.log
}

case_pptp() {
	ppp_secrets
	pptp_server
	pptp_client lan1
	_c1=$LASTPID
	pptp_client lan2
	waitfor 60 hasaddr lan1 ppp0
	waitfor 30 hasaddr lan2 ppp0
	if ! hasaddr lan1 ppp0 || ! hasaddr lan2 ppp0; then
		result pptp FAIL "ppp0 lan1:$(hasaddr lan1 ppp0 && echo up || echo down) lan2:$(hasaddr lan2 ppp0 && echo up || echo down)"
		return
	fi
	if ! pingboth lan1 "" lan2 "" 192.168.50.1; then
		result pptp FAIL "both calls up; ping $PING_DETAIL"
		return
	fi
	_d=$PING_DETAIL
	# Hang up lan1 (LCP terminate, Call-Clear-Request, TCP close).
	killpid $_c1
	sleep 2
	if hasaddr lan1 ppp0; then
		result pptp FAIL "lan1's call did not go down"
		return
	fi
	_r=$(pingcount lan2 "" 192.168.50.1)
	if [ "${_r:-0}" -eq 0 ]; then
		result pptp FAIL "ping $_d; after lan1 hung up lan2 got 0/4"
		return
	fi
	result pptp PASS "MPPE-128; ping $_d; after lan1 hung up lan2:$_r/4"
}

# L2TP (xl2tpd + pppd, CHAP). $1 = ipsec|plain
l2tp_server() {
	cat >$W/c/lns.ppp <<-EOF
	name l2tpserver
	require-chap
	refuse-pap
	nodefaultroute
	noccp
	lcp-echo-interval 0
	logfile $W/c/wan-pppd.log
	EOF
	cat >$W/c/wan-xl2tpd.conf <<-EOF
	[global]
	listen-addr = 203.0.113.1
	port = 1701
	access control = no
	[lns default]
	ip range = 192.168.60.10-192.168.60.30
	local ip = 192.168.60.1
	require chap = yes
	refuse pap = yes
	require authentication = yes
	name = l2tpserver
	pppoptfile = $W/c/lns.ppp
	length bit = yes
	EOF
	bgpriv wan $W/c/wan-xl2tpd.log xl2tpd -D -c $W/c/wan-xl2tpd.conf -p $W/c/wan-xl2tpd.pid -C $W/c/wan-l2tp-control
}
# l2tp_client NS PORT: an LAC that dials at once and redials.
l2tp_client() {
	cat >$W/c/$1-lac.ppp <<-EOF
	name $PPPUSER
	noauth
	refuse-pap
	nodefaultroute
	noipdefault
	noccp
	lcp-echo-interval 0
	logfile $W/c/$1-pppd.log
	EOF
	cat >$W/c/$1-xl2tpd.conf <<-EOF
	[global]
	port = $2
	access control = no
	[lac t]
	lns = 203.0.113.1
	refuse pap = yes
	require authentication = no
	name = $PPPUSER
	pppoptfile = $W/c/$1-lac.ppp
	autodial = yes
	redial = yes
	redial timeout = 3
	max redials = 30
	length bit = yes
	EOF
	bgpriv "$1" $W/c/$1-xl2tpd.log xl2tpd -D -c $W/c/$1-xl2tpd.conf -p $W/c/$1-xl2tpd.pid -C $W/c/$1-l2tp-control
}

sw_l2tp_configs() {
	for n in 1 2; do
		cat >$W/c/lan$n-swanctl.conf <<-EOF
		connections {
		    l2tp {
		        version = 1
		        local_addrs = 192.168.1.1$((n - 1))
		        remote_addrs = 203.0.113.1
		        proposals = aes128-sha256-modp2048
		        local {
		            auth = psk
		            id = c$n.lab
		        }
		        remote {
		            auth = psk
		            id = server.lab
		        }
		        children {
		            l2tp {
		                mode = transport
		                local_ts = dynamic[udp/$((1700 + n))]
		                remote_ts = dynamic[udp/1701]
		                esp_proposals = aes128-sha256
		            }
		        }
		    }
		}
		secrets {
		    ike-lab {
		        secret = $PSK
		    }
		}
		EOF
	done
	cat >$W/c/wan-swanctl.conf <<-EOF
	connections {
	    l2tp {
	        version = 1
	        local_addrs = 203.0.113.1
	        proposals = aes128-sha256-modp2048
	        local {
	            auth = psk
	            id = server.lab
	        }
	        remote {
	            auth = psk
	        }
	        children {
	            l2tp {
	                mode = transport
	                local_ts = dynamic[udp/1701]
	                remote_ts = dynamic[udp]
	                esp_proposals = aes128-sha256
	            }
	        }
	    }
	}
	secrets {
	    ike-lab {
	        secret = $PSK
	    }
	}
	EOF
}

case_l2tp_ipsec() {
	ppp_secrets
	sw_l2tp_configs
	sw_start wan && sw_start lan1 && sw_start lan2 || { result l2tp-ipsec FAIL "charon did not start"; return; }
	if ! sw_up_both l2tp; then
		result l2tp-ipsec FAIL "IKEv1 failed: $(tail -n1 $W/c/lan1-initiate.log) / $(tail -n1 $W/c/lan2-initiate.log)"
		return
	fi
	l2tp_server
	sleep 1
	l2tp_client lan1 1701
	l2tp_client lan2 1702
	waitfor 60 hasaddr lan1 ppp0
	waitfor 30 hasaddr lan2 ppp0
	if ! hasaddr lan1 ppp0 || ! hasaddr lan2 ppp0; then
		result l2tp-ipsec FAIL "IPsec up; ppp0 lan1:$(hasaddr lan1 ppp0 && echo up || echo down) lan2:$(hasaddr lan2 ppp0 && echo up || echo down)"
		return
	fi
	if ! pingboth lan1 "" lan2 "" 192.168.60.1; then
		result l2tp-ipsec FAIL "ppp up; ping $PING_DETAIL"
		return
	fi
	ip -n lan1 xfrm state | grep -q "encap type espinudp" || { result l2tp-ipsec FAIL "ESP not UDP-encapsulated"; return; }
	result l2tp-ipsec PASS "IKEv1 main mode, transport, NAT-T; ping $PING_DETAIL"
}

case_l2tp() {
	ppp_secrets
	l2tp_server
	sleep 1
	l2tp_client lan1 1701
	l2tp_client lan2 1701
	waitfor 60 hasaddr lan1 ppp0
	waitfor 30 hasaddr lan2 ppp0
	if ! hasaddr lan1 ppp0 || ! hasaddr lan2 ppp0; then
		result l2tp FAIL "ppp0 lan1:$(hasaddr lan1 ppp0 && echo up || echo down) lan2:$(hasaddr lan2 ppp0 && echo up || echo down)"
		return
	fi
	if ! pingboth lan1 "" lan2 "" 192.168.60.1; then
		result l2tp FAIL "ppp up; ping $PING_DETAIL"
		return
	fi
	result l2tp PASS "plain L2TP, both from source port 1701; ping $PING_DETAIL"
}

# OpenVPN 2.6 over UDP, TLS with pinned self-signed certificates.
case_openvpn() {
	cp $L/openvpn/* $W/c/
	cat >$W/c/wan-openvpn.conf <<-EOF
	dev tun
	proto udp
	local 203.0.113.1
	port 1194
	server 10.8.0.0 255.255.255.0
	topology subnet
	dh none
	cert $W/c/server.crt
	key $W/c/server.key
	<peer-fingerprint>
	$(cat $W/c/c1.fp)
	$(cat $W/c/c2.fp)
	</peer-fingerprint>
	data-ciphers AES-256-GCM
	keepalive 10 60
	verb 3
	EOF
	for n in 1 2; do
		cat >$W/c/lan$n-openvpn.conf <<-EOF
		client
		dev tun
		proto udp
		remote 203.0.113.1 1194
		lport 1194
		cert $W/c/c$n.crt
		key $W/c/c$n.key
		peer-fingerprint $(cat $W/c/server.fp)
		data-ciphers AES-256-GCM
		explicit-exit-notify 1
		verb 3
		EOF
	done
	bg wan $W/c/wan-openvpn.log openvpn --config $W/c/wan-openvpn.conf
	sleep 1
	bg lan1 $W/c/lan1-openvpn.log openvpn --config $W/c/lan1-openvpn.conf
	bg lan2 $W/c/lan2-openvpn.log openvpn --config $W/c/lan2-openvpn.conf
	waitfor 60 grep -q "Initialization Sequence Completed" $W/c/lan1-openvpn.log
	waitfor 30 grep -q "Initialization Sequence Completed" $W/c/lan2-openvpn.log
	if ! pingboth lan1 "" lan2 "" 10.8.0.1; then
		result openvpn FAIL "ping $PING_DETAIL"
		return
	fi
	result openvpn PASS "UDP, TLS + peer-fingerprint, both from port 1194; ping $PING_DETAIL"
}

# WireGuard (kernel module), all three on port 51820.
case_wireguard() {
	for h in wan lan1 lan2; do
		wg genkey >$W/c/$h.key
		wg pubkey <$W/c/$h.key >$W/c/$h.pub
		ip -n $h link add wg0 type wireguard
	done
	ip netns exec wan wg set wg0 listen-port 51820 private-key $W/c/wan.key \
		peer "$(cat $W/c/lan1.pub)" allowed-ips 10.9.0.2/32 \
		peer "$(cat $W/c/lan2.pub)" allowed-ips 10.9.0.3/32
	ip -n wan addr add 10.9.0.1/24 dev wg0
	ip -n wan link set wg0 up
	for n in 1 2; do
		ip netns exec lan$n wg set wg0 listen-port 51820 private-key $W/c/lan$n.key \
			peer "$(cat $W/c/wan.pub)" endpoint 203.0.113.1:51820 allowed-ips 10.9.0.0/24 persistent-keepalive 5
		ip -n lan$n addr add 10.9.0.$((n + 1))/24 dev wg0
		ip -n lan$n link set wg0 up
	done
	if ! pingboth lan1 "" lan2 "" 10.9.0.1; then
		result wireguard FAIL "ping $PING_DETAIL; $(ip netns exec wan wg show wg0 endpoints | tr '\n\t' '; ')"
	else
		result wireguard PASS "both from port 51820; ping $PING_DETAIL; server sees $(ip netns exec wan wg show wg0 endpoints | cut -f2 | tr '\n' ' ')"
	fi
	for h in wan lan1 lan2; do ip -n $h link del wg0 2>/dev/null; done
}

# ---------------------------------------------------------------- switches
# routerd only: switched off, the client cannot connect and routerd counts
# blocked packets; switched on again (no restart), it connects.

blocked() { # PROTO: the blocked counter in show passthrough
	rshell "show passthrough" | awk -v p="$1" '$1 == p { f = 1 } f && /blocked/ { for (i = 1; i < NF; i++) if ($i == "blocked") { print $(i + 1); exit } }'
}
setswitch() { # PROTO enable|disable
	rshell "configure; set passthrough $1 $2; commit" >>$W/c/shell.log 2>&1
}

case_switch_pptp() {
	[ "$NAT" = routerd ] || { result switch-pptp N/A "routerd's switch"; return; }
	ppp_secrets
	pptp_server
	setswitch pptp disable
	_b0=$(blocked pptp)
	pptp_client lan1
	_c=$LASTPID
	if waitfor 20 hasaddr lan1 ppp0; then
		result switch-pptp FAIL "connected with the switch off"
		setswitch pptp enable
		return
	fi
	killpid $_c
	_b1=$(blocked pptp)
	rshell "show passthrough" >$W/c/show-passthrough-off.log 2>&1
	setswitch pptp enable
	pptp_client lan1
	if ! waitfor 60 hasaddr lan1 ppp0; then
		result switch-pptp FAIL "blocked ${_b0:-?}->${_b1:-?}; did not connect after switching on"
		return
	fi
	_r=$(pingcount lan1 "" 192.168.50.1)
	if [ "${_b1:-0}" -le "${_b0:-0}" ] || [ "${_r:-0}" -eq 0 ]; then
		result switch-pptp FAIL "blocked ${_b0:-?}->${_b1:-?}; after on: ping ${_r:-0}/4"
		return
	fi
	result switch-pptp PASS "off: no call, blocked ${_b0}->${_b1}; on: connected, ping $_r/4"
}

case_switch_l2tp() {
	[ "$NAT" = routerd ] || { result switch-l2tp N/A "routerd's switch"; return; }
	ppp_secrets
	l2tp_server
	setswitch l2tp disable
	_b0=$(blocked l2tp)
	l2tp_client lan1 1701
	_c=$LASTPID
	if waitfor 20 hasaddr lan1 ppp0; then
		result switch-l2tp FAIL "connected with the switch off"
		setswitch l2tp enable
		return
	fi
	killpid $_c
	_b1=$(blocked l2tp)
	rshell "show passthrough" >$W/c/show-passthrough-off.log 2>&1
	setswitch l2tp enable
	l2tp_client lan1 1701
	if ! waitfor 60 hasaddr lan1 ppp0; then
		result switch-l2tp FAIL "blocked ${_b0:-?}->${_b1:-?}; did not connect after switching on"
		return
	fi
	_r=$(pingcount lan1 "" 192.168.60.1)
	if [ "${_b1:-0}" -le "${_b0:-0}" ] || [ "${_r:-0}" -eq 0 ]; then
		result switch-l2tp FAIL "blocked ${_b0:-?}->${_b1:-?}; after on: ping ${_r:-0}/4"
		return
	fi
	result switch-l2tp PASS "off: no tunnel, blocked ${_b0}->${_b1}; on: connected, ping $_r/4"
}

case_switch_ipsec() {
	[ "$NAT" = routerd ] || { result switch-ipsec N/A "routerd's switch"; return; }
	sw_ikev2_configs
	sw_start wan && sw_start lan1 || { result switch-ipsec FAIL "charon did not start"; return; }
	setswitch ipsec disable
	_b0=$(blocked ipsec)
	if swctl lan1 --initiate --child c --timeout 25 >$W/c/lan1-initiate-off.log 2>&1; then
		result switch-ipsec FAIL "IKEv2 connected with the switch off"
		setswitch ipsec enable
		return
	fi
	swctl lan1 --terminate --ike t --force >/dev/null 2>&1
	_b1=$(blocked ipsec)
	rshell "show passthrough" >$W/c/show-passthrough-off.log 2>&1
	setswitch ipsec enable
	if ! swctl lan1 --initiate --child c --timeout 60 >$W/c/lan1-initiate.log 2>&1; then
		result switch-ipsec FAIL "blocked ${_b0:-?}->${_b1:-?}; did not connect after switching on"
		return
	fi
	_r=$(pingcount lan1 10.99.1.10 172.16.0.1)
	if [ "${_b1:-0}" -le "${_b0:-0}" ] || [ "${_r:-0}" -eq 0 ]; then
		result switch-ipsec FAIL "blocked ${_b0:-?}->${_b1:-?}; after on: ping ${_r:-0}/4"
		return
	fi
	result switch-ipsec PASS "off: IKE failed, blocked ${_b0}->${_b1}; on: connected, ping $_r/4"
}

# ---------------------------------------------------------------- main

say "start at $(now)s; NATS='$NATS' CASES='$CASES'"
dpkg-query -W -f '${Package} ${Version}\n' >$L/dpkg.txt 2>/dev/null
cat /etc/interop/versions >$L/versions.txt
for NAT in $NATS; do
	say "=== NAT $NAT"
	_t0=$(date +%s)
	topo_up
	for c in $CASES; do
		rm -rf $W/c
		mkdir -p $W/c
		natflush
		_s=$(date +%s)
		say "--- $NAT $c at $(now)s"
		fn=case_$(echo $c | tr - _)
		$fn
		killall_case
		echo "TIME $NAT $c $(($(date +%s) - _s))" | tee -a $RES
		rm -f /etc/ppp/chap-secrets
	done
	[ "$NAT" = routerd ] && cp $W/rtr/routerd.log $L/logs/routerd.log 2>/dev/null
	topo_down
	echo "TIME $NAT all $(($(date +%s) - _t0))" | tee -a $RES
done
say "done at $(now)s"
echo "LAB-DONE" >>$RES
