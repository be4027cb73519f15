#!/usr/bin/env bash
src=$(cd "$(dirname "$0")/../../.." && pwd)
export BUILD=${BUILD:-$src/build} KUKEON_SRC=$src
bash "$src/tests/integration/t_network.sh" 2>&1 | while IFS= read -r l; do printf '%s\n' "$l"; echo "# T $(cut -d' ' -f1 /proc/uptime) $l"; done
