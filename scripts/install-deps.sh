#!/usr/bin/env bash
# Installs the Debian packages vidlm builds against, if any are missing.
# Usage: scripts/install-deps.sh [extra packages...]   (non-interactive; needs root to install)
set -euo pipefail
packages=(libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libopenblas-dev zlib1g-dev libjpeg62-turbo-dev libwebp7 pkg-config "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "vidlm needs these Debian packages: ${missing[*]}. Run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "Installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
