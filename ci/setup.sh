#!/usr/bin/env bash
# Installs every Debian package mrelay needs to build, test and measure.
# Idempotent: packages already present are skipped, `apt-get update` runs at most
# once per call and only when something is missing. Needs root (or sudo) only then.
#
#   ci/setup.sh            # install what is missing
#   ci/setup.sh --list     # print the package list and exit
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries (Debian packages found with find_package/pkg-config)
  liburing-dev libpfm4-dev libbenchmark-dev libgtest-dev libgmock-dev
  pybind11-dev nlohmann-json3-dev libexpected-dev libcap-dev
  # python side: Debian's interpreter, its scientific stack, and jsonschema for the results
  # schema check of the tests (harness/schema/results.schema.json)
  python3 python3-dev python3-numpy python3-scipy python3-matplotlib python3-pytest
  python3-jsonschema
  # the rig: namespaces, qdiscs, reference forwarders (nftables: the kernel-nft reference)
  iproute2 socat procps kmod nftables
  # the multi-host rig: roles started over SSH (the client), test hosts that are namespaces
  # running their own sshd (the server; its package's own service is never started by the
  # tests), and the NIC fingerprint of each host (ethtool -i)
  openssh-client openssh-server ethtool
  # packaging: man pages generated from each program's --help/--version (help2man), the .deb
  # (CPack's DEB generator runs dpkg-deb, in dpkg); systemd-analyze verify checks the unit
  # (in package systemd; the test never starts a service)
  help2man dpkg systemd
  # fuzzing and sanitizers
  clang libclang-rt-14-dev
)

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != *"install ok installed"* ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
echo "setup: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
