#!/usr/bin/env bash
# Print the local cluster's state. Exit 0: up and healthy; 3: not running; 1: partly running.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

running=0
for c in "${DL_COMPONENTS[@]}"; do
  if pid_alive "$c"; then
    running=$((running + 1))
    rss="$(awk '/^VmRSS/ {printf "%d MB", $2/1024}' "/proc/$(cat "$DL_PIDS/$c.pid")/status" 2>/dev/null)"
    say "$c: running (pid $(cat "$DL_PIDS/$c.pid"), rss $rss)"
  else
    say "$c: stopped"
  fi
done
if ((running == 0)); then
  say "down"
  exit 3
fi
if cluster_healthy; then
  ready_line ""  # not started by this call
  exit 0
fi
say "degraded: $running of ${#DL_COMPONENTS[@]} components running, or node not Ready (logs: $DL_LOGS)"
exit 1
