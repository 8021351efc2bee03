#!/usr/bin/env bash
# Run the real `tickdeck` demo in a tmux pane, press the halt key (ctrl+k) once trading
# is ACTIVE, and read HALTED off the screen within a second. Exit 0 when it was; 1 when
# not, with the screen printed. Needs tmux and uv; runs in a fresh temporary directory
# (the demo writes its sample data and journal under ./data).
#
#   scripts/tmux_halt.sh [--keep]      # --keep: leave the temporary directory
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d -t tickdeck-tmux-XXXXXX)"
pane="tickdeck-halt-$$"
keep="${1:-}"

cleanup() {
    tmux kill-session -t "$pane" 2>/dev/null || true
    if [[ "$keep" != "--keep" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$pane" 2>/dev/null; }

# The overview's risk panel ("risk  ACTIVE"), not the log tail, which may quote a state.
ACTIVE='risk +ACTIVE'
HALTED='risk +HALTED'

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_for PATTERN MILLISECONDS: poll the screen every 20 ms until PATTERN (grep -E) shows;
# print the milliseconds it took.
wait_for() {
    local pattern="$1" limit="$2" start
    start=$(now_ms)
    while (( $(now_ms) - start <= limit )); do
        tmux has-session -t "$pane" 2>/dev/null || return 1  # the pane is gone
        if screen | grep -Eq "$pattern"; then
            echo $(( $(now_ms) - start ))
            return 0
        fi
        sleep 0.02
    done
    return 1
}

tmux new-session -d -s "$pane" -x 100 -y 30 -c "$work" \
    "uv run --project $repo tickdeck 2>&1; sleep 30"

if ! wait_for "$ACTIVE" 90000 >/dev/null; then
    echo "tickdeck never showed ACTIVE within 90 s; the screen:" >&2
    screen >&2
    exit 1
fi
tmux send-keys -t "$pane" C-k
if ms=$(wait_for "$HALTED" 1000); then
    echo "HALTED on screen ${ms} ms after ctrl+k"
    tmux send-keys -t "$pane" C-q
    exit 0
fi
echo "HALTED did not show within 1 s of ctrl+k; the screen:" >&2
screen >&2
exit 1
