#!/usr/bin/env bash
# A Debian trixie chroot beside the bookworm host, for what bookworm cannot
# give the tests: a current Azure CLI (trixie's azure-cli, 2.74) and a Wine
# (trixie's Wine 10) that runs Go's Windows binaries.
#
# Usage (as root):
#   scripts/trixie.sh az      build the chroot once, install azure-cli in it,
#                             write the wrapper; prints the wrapper's path
#   scripts/trixie.sh wine    the same with wine and wine64; prints the
#                             wrapper that runs a command under Wine
#
# The chroot lives outside the repo, in AZKEEP_TRIXIE (default
# /var/cache/azkeep/trixie), and is reused by later runs. The wrappers
# (az274, wine10) sit beside it. Each call of a wrapper runs in a mount
# namespace of its own (unshare -m) where /proc, /dev, /dev/pts and /tmp are
# bound into the chroot at the same paths: nothing stays mounted on the host
# when the call ends, whatever way it ends, so there is nothing to undo.
set -euo pipefail

root=${AZKEEP_TRIXIE:-/var/cache/azkeep/trixie}
base=$(dirname "$root")

die() { echo "trixie.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and unshare -m)"
case "${1:-}" in
az | wine) ;;
*) die "usage: $0 az|wine" ;;
esac

# mirror prints the host's Debian mirror (the URI of its main suite) from
# /etc/apt/sources.list(.d): trixie comes from the same place as bookworm.
mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) suite = 1 }
			/^$/ { if (uri != "" && suite && uri !~ /security/) { print uri; exit } uri = ""; suite = 0 }
			END { if (uri != "" && suite && uri !~ /security/) print uri }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }' "$f"
	done
}

# inroot runs a command inside the chroot, in a private mount namespace.
inroot() {
	unshare -m --propagation private sh -c '
		r=$1; shift
		mount --bind /proc "$r/proc" && mount --rbind /dev "$r/dev" && mount --bind /tmp "$r/tmp" || exit 125
		exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
	' inroot "$root" "$@"
}

build() {
	[ -f "$root/.azkeep-base" ] && return
	local url start
	url=$(mirror | head -n1)
	[ -n "$url" ] || die "no Debian mirror found in /etc/apt/sources.list(.d)"
	command -v debootstrap >/dev/null || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	}
	start=$(date +%s)
	rm -rf "$root"
	mkdir -p "$root"
	echo "trixie.sh: debootstrap trixie from $url into $root" >&2
	debootstrap --variant=minbase trixie "$root" "$url" >"$base/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$base/debootstrap.log" >&2; die "debootstrap failed (log: $base/debootstrap.log)"; }
	# The chroot's own apt must not start services (there is no init).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	touch "$root/.azkeep-base"
	echo "trixie.sh: base system in $(($(date +%s) - start)) s" >&2
}

# install NAME APT-ARGS... installs packages in the chroot once (a marker
# file per NAME).
install() {
	local name=$1 start
	shift
	[ -f "$root/.azkeep-$name" ] && return
	start=$(date +%s)
	inroot sh -c 'apt-get update -qq && apt-get install -y -qq "$@" >/dev/null' sh "$@" ||
		die "apt-get install $* in the chroot failed"
	touch "$root/.azkeep-$name"
	echo "trixie.sh: $* in $(($(date +%s) - start)) s" >&2
}

# write_wrapper PATH CMD writes a wrapper that runs CMD from the chroot for
# files under /tmp, in a mount namespace of its own. It passes the variables
# az and its HTTP stack read, BROWSER (a test's stand-in browser), Wine's, and the session bus (whose socket is
# abstract or under /tmp, so the chroot reaches it). A HOME outside /tmp
# does not exist inside: the chroot's /root stands in for it.
write_wrapper() {
	local path=$1 cmd=$2
	cat >"$path.new" <<EOF
#!/bin/sh
# Written by scripts/trixie.sh: $cmd from the trixie chroot $root, for
# files under /tmp. Each call runs in a mount namespace of its own, so no
# mount outlives it.
set -- $cmd "\$@"
for k in \$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E '^(AZURE_|MSAL_|WINE|https?_proxy\$|HTTPS?_PROXY\$|no_proxy\$|NO_PROXY\$|REQUESTS_CA_BUNDLE\$|SSL_CERT_FILE\$|TERM\$|PYTHONWARNINGS\$|BROWSER\$|DBUS_SESSION_BUS_ADDRESS\$)'); do
	set -- "\$k=\$(printenv "\$k")" "\$@"
done
case \${HOME:-} in /tmp/*) set -- "HOME=\$HOME" "\$@" ;; *) set -- HOME=/root "\$@" ;; esac
case \$PWD in /tmp | /tmp/*) dir=\$PWD ;; *) dir=/ ;; esac
exec unshare -m --propagation private sh -c '
	r=\$1 dir=\$2; shift 2
	mount --bind /proc "\$r/proc" && mount --rbind /dev "\$r/dev" && mount --bind /tmp "\$r/tmp" || exit 125
	exec chroot "\$r" /usr/bin/env -i -C "\$dir" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "\$@"
' $(basename "$path") "$root" "\$dir" "\$@"
EOF
	chmod 755 "$path.new"
	mv "$path.new" "$path"
	echo "$path"
}

mkdir -p "$base"
exec 9>"$base/trixie.lock"
flock 9
build
case $1 in
az)
	# With its recommends, as a user installs it: they bring the libsecret
	# bindings (python3-gi, gir1.2-secret-1) token-cache encryption needs.
	install az azure-cli ca-certificates
	write_wrapper "$base/az274" az
	;;
wine)
	install wine --no-install-recommends wine wine64 ca-certificates
	write_wrapper "$base/wine10" wine
	;;
esac
