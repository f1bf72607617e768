#!/usr/bin/env bash
# Restart the running cluster's kube-proxy with the min sync period DRAINLAB_PROXY_MIN_SYNC_PERIOD
# asks for, when it runs with another; nothing when none is asked for or it already has it.
# kube-proxy leaves its rules in place while it restarts, so Services keep answering meanwhile.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root
lifecycle_lock

wanted="$(proxy_period_wanted)"
[[ -n "$wanted" ]] || exit 0
pid_alive kube-proxy || die "kube-proxy is not running: bring the cluster up first"
running="$(proxy_period_running)"
if [[ "$running" != "$wanted" ]]; then
  stop_daemon kube-proxy
  start_proxy "$wanted"
  say "kube-proxy restarted: min sync period $running -> $wanted"
fi
