#!/usr/bin/env bash
# Renders cryptully.svg into the freedesktop hicolor theme layout
# (hicolor/<N>x<N>/apps/cryptully.png), the sizes desktops and the .deb install.
# Usage: packaging/icons/render.sh   (from anywhere; writes next to this script)
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v rsvg-convert >/dev/null 2>&1; then
  # rsvg-convert is in librsvg2-bin on Debian and Ubuntu.
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librsvg2-bin
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librsvg2-bin
  fi
fi

for n in 16 24 32 48 64 128 256 512; do
  mkdir -p "hicolor/${n}x${n}/apps"
  rsvg-convert --width "$n" --height "$n" --keep-aspect-ratio \
    --output "hicolor/${n}x${n}/apps/cryptully.png" cryptully.svg
  echo "hicolor/${n}x${n}/apps/cryptully.png"
done
