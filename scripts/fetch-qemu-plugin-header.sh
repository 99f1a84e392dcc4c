#!/usr/bin/env bash
# Extracts include/qemu/qemu-plugin.h from Debian's qemu source package
# (same version as the installed qemu-system-arm, so the plugin API matches).
set -euo pipefail
out="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src_list=/etc/apt/sources.list.d/reef-deb-src.sources
if ! grep -rqs '^deb-src\|^Types:.*deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  # deb822 form with the same Signed-By as Debian's own entries (a one-line
  # deb-src entry without it conflicts with them).
  $sudo tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $sudo apt-get update -qq
fi
version=$(dpkg-query -W -f='${source:Version}' qemu-system-arm)
cd "$work"
apt-get source --download-only -qq "qemu=$version" >/dev/null 2>&1 ||
  apt-get source --download-only -qq qemu >/dev/null 2>&1
tarball=$(ls qemu_*.orig.tar.*)
tar xf "$tarball" --wildcards '*/include/qemu/qemu-plugin.h'
mkdir -p "$(dirname "$out")"
cp qemu-*/include/qemu/qemu-plugin.h "$out.tmp" && mv "$out.tmp" "$out"
echo "deps: QEMU plugin header -> $out"
