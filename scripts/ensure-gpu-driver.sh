#!/usr/bin/env bash
# Makes sure WebGPU can find a driver on Linux, for Node (Dawn from the `webgpu` package) and for the
# browser tests (headless Chromium):
#   - the Vulkan loader, libvulkan.so.1 (Debian package libvulkan1), which Dawn opens by name;
#   - a Vulkan driver Dawn can use: SwiftShader's ICD, which Chromium ships (or VK_ICD_FILENAMES /
#     VK_DRIVER_FILES set to a driver of your choice);
#   - Chromium at /usr/bin/chromium (or $CHROMIUM_PATH) for the browser tests.
# Quiet when all is present. When something is missing and we are root with apt-get, installs
# `chromium libvulkan1`; otherwise prints the command to run and exits 1.
#
# Usage: bash scripts/ensure-gpu-driver.sh [--check]   (--check: never install, only report)
# Used by `npm start`/`npm run cli`/`npm run bench` (pre scripts), scripts/test.sh and .ci/run.
set -euo pipefail

PACKAGES=(chromium libvulkan1)
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
# Keep in step with SWIFTSHADER_ICD_PATHS in src/device/node.ts.
SWIFTSHADER_ICDS=(
  /usr/lib/chromium/vk_swiftshader_icd.json
  /usr/lib/chromium-browser/vk_swiftshader_icd.json
  /opt/google/chrome/vk_swiftshader_icd.json
  /opt/google/chrome-beta/vk_swiftshader_icd.json
  /snap/chromium/current/usr/lib/chromium-browser/vk_swiftshader_icd.json
)

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "ensure-gpu-driver: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

# Other systems bring their own WebGPU (Metal, D3D12) and browsers: nothing to do there.
[[ "$(uname -s)" == Linux ]] || exit 0

have_vulkan_loader() {
  local dir
  for dir in /usr/lib /lib /usr/lib64 /usr/local/lib /usr/lib/*-linux-gnu /lib/*-linux-gnu; do
    [[ -e "$dir/libvulkan.so.1" ]] && return 0
  done
  local ldconfig
  ldconfig="$(command -v ldconfig || echo /sbin/ldconfig)"
  [[ -x "$ldconfig" ]] && "$ldconfig" -p 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null
}

have_vulkan_driver() {
  [[ -n "${VK_ICD_FILENAMES:-}" || -n "${VK_DRIVER_FILES:-}" ]] && return 0
  local icd
  for icd in "${SWIFTSHADER_ICDS[@]}"; do
    [[ -e "$icd" ]] && return 0
  done
  return 1
}

have_chromium() {
  [[ -x "$CHROMIUM" ]]
}

missing_parts() {
  local missing=()
  have_vulkan_loader || missing+=("the Vulkan loader (libvulkan.so.1)")
  have_vulkan_driver || missing+=("a Vulkan driver for Dawn (SwiftShader's vk_swiftshader_icd.json, shipped with Chromium)")
  have_chromium || missing+=("Chromium at $CHROMIUM (for the browser tests)")
  local IFS=';'
  echo "${missing[*]:-}"
}

missing="$(missing_parts)"
[[ -z "$missing" ]] && exit 0

echo "ensure-gpu-driver: missing: ${missing//;/, }" >&2

if [[ "$check_only" == 0 && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-gpu-driver: installing ${PACKAGES[*]} (SwiftShader for WebGPU in Node, and the browser for tests)" >&2
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"
  missing="$(missing_parts)"
  if [[ -n "$missing" ]]; then
    echo "ensure-gpu-driver: still missing after installing ${PACKAGES[*]}: ${missing//;/, }" >&2
    exit 1
  fi
  echo "ensure-gpu-driver: done" >&2
  exit 0
fi

{
  if command -v apt-get >/dev/null 2>&1; then
    echo "Install them with (Debian/Ubuntu):"
    echo "  sudo apt-get update && sudo apt-get install -y ${PACKAGES[*]}"
  else
    echo "Install Chromium and the Vulkan loader with your package manager, for example:"
    echo "  sudo apt-get update && sudo apt-get install -y ${PACKAGES[*]}   # Debian/Ubuntu"
    echo "  sudo dnf install -y chromium vulkan-loader                          # Fedora"
    echo "  sudo pacman -S chromium vulkan-icd-loader                           # Arch"
  fi
  echo "Or set VK_ICD_FILENAMES to a Vulkan driver's ICD json, and CHROMIUM_PATH to a Chromium binary."
} >&2
exit 1
