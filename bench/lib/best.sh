# Sourced by bench/*.sh (bash): keep the best of several timed runs per key.
# keep KEY WALL_S CPU_S stores the run with the lowest wall time in WALL[KEY] / CPU[KEY] (ms).
declare -A WALL CPU
keep() {
  local ms
  ms=$(awk -v s="$2" 'BEGIN { printf "%d", s * 1000 }')
  if [ -z "${WALL[$1]:-}" ] || [ "$ms" -lt "${WALL[$1]}" ]; then
    WALL[$1]=$ms
    CPU[$1]=$(awk -v s="$3" 'BEGIN { printf "%d", s * 1000 }')
  fi
}
