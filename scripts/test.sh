#!/usr/bin/env bash
# Runs azkeep's whole test suite against real components:
#   - the real Azure CLI (Debian's azure-cli package),
#   - a real Secret Service (gnome-keyring) in a private D-Bus session,
#   - a real `pass` store with a throwaway GPG key,
#   - zsh and fish, to check the quoting of `azkeep env`,
#   - tmux, to drive `azkeep ui` and the picker by keystrokes,
#   - node and npm, to write Leapp workspaces with the real leapp-core
#     (installed from npm by the tests into a cache dir outside the repo),
#   - kubectl and git, the clients of azkeep's credential helpers,
#   - unshare and ip, for tests in a loopback-only network namespace
#     (clients that probe 169.254.169.254; run as root).
# Installs what is missing (as root through apt-get; otherwise prints the one
# line to run), starts the services, runs `go test`, and stops them again.
#
# Usage: scripts/test.sh [go test flags and packages]   (default: -race ./...)
#        scripts/test.sh --realaz [go test flags]
#            only the tests that drive the real az, against AZKEEP_AZ (else
#            the az on PATH): one command for any az
#        scripts/test.sh --az274 [go test flags]
#            the same against Debian trixie's az 2.74, from a chroot that
#            scripts/trixie.sh builds once (as root)
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests that run the real az (testbed.RequireAZ), by name; all but
# TestRotationHolds, which holds az for five minutes and runs against the
# az on PATH in the main pass.
realaz_run='^Test(Real|AZ|E2E|ExecE2E|ScriptsRealAZ|TraceAZ|ConcurrentWithRealAZ|SeedStartWithAZEngine|SIGTERMDuringRotation|AgentReportsNeedsLoginOnce|NativeEntriesMatchAzEntries|NativeLogoutLeavesWhatAzLogoutLeaves|NativeStartIsADropInForAz|NewConfigDirSkipsVersionCheck)'

apt_az=(azure-cli)
apt_svc=(dbus-daemon gnome-keyring libsecret-tools gnupg pass zsh fish tmux)
# Only when missing: a node from elsewhere (NodeSource) must not meet Debian's.
apt_node=(nodejs npm)
# kubectl for the credential-plugin test: Debian's kubernetes-client when
# no kubectl is there.
apt_kubectl=(kubernetes-client)

missing() {
	command -v az >/dev/null || echo az
	for c in dbus-run-session gnome-keyring-daemon secret-tool gpg pass zsh fish tmux node npm kubectl git unshare ip; do
		command -v "$c" >/dev/null || echo "$c"
	done
}

if [ "${1:-}" = --az274 ]; then
	shift
	if [ "$(id -u)" != 0 ]; then
		echo "test.sh: --az274 builds a chroot: run it as root" >&2
		exit 1
	fi
	AZKEEP_AZ=$(scripts/trixie.sh az)
	export AZKEEP_AZ
	set -- --realaz "$@"
fi

if [ -z "${AZKEEP_TEST_INNER:-}" ]; then
	if [ -n "$(missing)" ]; then
		echo "test.sh: missing: $(missing | tr '\n' ' ')" >&2
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			export DEBIAN_FRONTEND=noninteractive
			apt-get update -qq
			# azure-cli with its recommends; the services without them (never dbus-x11:
			# it autolaunches a bus per process and leaves daemons behind).
			apt-get install -y -qq "${apt_az[@]}" >/dev/null
			apt-get install -y -qq --no-install-recommends "${apt_svc[@]}" >/dev/null
			if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
				apt-get install -y -qq --no-install-recommends "${apt_node[@]}" >/dev/null
			fi
			command -v kubectl >/dev/null || apt-get install -y -qq --no-install-recommends "${apt_kubectl[@]}" >/dev/null
			command -v git >/dev/null || apt-get install -y -qq --no-install-recommends git >/dev/null
			command -v unshare >/dev/null || apt-get install -y -qq --no-install-recommends util-linux >/dev/null
			command -v ip >/dev/null || apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
		else
			echo "test.sh: run this once, then again:" >&2
			echo "  sudo apt-get update && sudo apt-get install -y ${apt_az[*]} && sudo apt-get install -y --no-install-recommends ${apt_svc[*]} ${apt_node[*]} ${apt_kubectl[*]} git util-linux iproute2" >&2
			exit 1
		fi
	fi
	go mod download
	# Re-enter inside a private session bus that ends with this script.
	export AZKEEP_TEST_INNER=1
	exec dbus-run-session -- "$0" "$@"
fi

# --- inside the private D-Bus session ---------------------------------------
work=$(mktemp -d /tmp/azkeep-test.XXXXXX)
keyring_pid=""
cleanup() {
	[ -n "$keyring_pid" ] && kill "$keyring_pid" 2>/dev/null || true
	[ -n "${GNUPGHOME:-}" ] && gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true
	rm -rf "$work" "${GNUPGHOME:-/nonexistent}"
}
trap cleanup EXIT

# gnome-keyring, unlocked with a throwaway password, in a fresh keyring dir.
# XDG_* are set for the daemon only: moving them for go test would move Go's
# build cache.
mkdir -p "$work/data" "$work/run" && chmod 700 "$work/run"
pw=$(head -c 24 /dev/urandom | base64)
eval "$(printf %s "$pw" | XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/run" \
	gnome-keyring-daemon --unlock --components=secrets --daemonize)"
export GNOME_KEYRING_CONTROL
for _ in $(seq 100); do
	if dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
		break
	fi
	sleep 0.1
done
keyring_pid=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
	org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null |
	awk '/uint32/ {print $2}') || true
if [ -z "$keyring_pid" ]; then
	echo "test.sh: gnome-keyring did not come up on the private bus" >&2
	exit 1
fi

# pass with a throwaway, passphrase-less GPG key (short GNUPGHOME: the agent
# socket path has a length limit).
GNUPGHOME=$(mktemp -d /tmp/g.XXXXXX)
export GNUPGHOME
export PASSWORD_STORE_DIR="$work/pass"
gpg --batch --quiet --gen-key 2>/dev/null <<GPG
%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Subkey-Type: ecdh
Subkey-Curve: cv25519
Name-Real: azkeep test
Name-Email: test@azkeep.invalid
Expire-Date: 0
%commit
GPG
fpr=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
pass init "$fpr" >/dev/null 2>&1
export AZKEEP_TEST_GPG_KEY="$fpr"

if [ "${1:-}" = --realaz ]; then
	shift
	set -- -run "$realaz_run" "$@" ./internal/...
fi
[ $# -eq 0 ] && set -- -race ./...
echo "test.sh: az $("${AZKEEP_AZ:-az}" version --query '"azure-cli"' -o tsv 2>/dev/null) (${AZKEEP_AZ:-az on PATH}), secret service pid $keyring_pid, pass key ${fpr:0:16}…" >&2
go test -count=1 -timeout 45m "$@"
