# Sourced by run-suite.sh: a CPU cgroup whose processes run only on CPU time nothing else wants (cpu.idle = 1).
#
# Why a cgroup and not nice: with autogroups (on in Debian's kernels), nice ranks a process only among those of its own
# session, while sessions share the CPU fairly among themselves, and under EEVDF a nice-19 task that has the CPU
# may keep it to the end of its slice. The scheduler preempts an entity of an idle group for a waking entity of a
# normal one at once, whatever their groups.
#
#   idle_group_create           makes the group; returns 1 (and says why) where there is none to be had
#   idle_group_run CMD [ARG...] runs CMD in the group (its children stay in it)
#   idle_group_kill             ends every process in the group (all of them started by the run that made it)
#   idle_group_remove           removes the group, once every process in it has ended

IDLE_GROUP=""

idle_group_create() {
    local parent
    if [[ -f /sys/fs/cgroup/cpu/cpu.idle ]]; then
        parent=/sys/fs/cgroup/cpu                              # cgroup v1, cpu controller
    elif [[ -f /sys/fs/cgroup/cgroup.subtree_control ]] && grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control; then
        parent=/sys/fs/cgroup                                  # cgroup v2 with the cpu controller enabled
    else
        echo "make test: no CPU cgroup with cpu.idle here" >&2
        return 1
    fi
    IDLE_GROUP="$parent/popgate-make-test-$$"
    if ! mkdir "$IDLE_GROUP" 2>/dev/null || ! echo 1 >"$IDLE_GROUP/cpu.idle" 2>/dev/null; then
        echo "make test: cannot make an idle CPU cgroup under $parent (not root?)" >&2
        rmdir "$IDLE_GROUP" 2>/dev/null
        IDLE_GROUP=""
        return 1
    fi
}

idle_group_run() {
    echo "$BASHPID" >"$IDLE_GROUP/cgroup.procs" || return 1
    "$@"
}

idle_group_kill() {
    [[ -n "$IDLE_GROUP" ]] || return 0
    local pid
    while read -r pid; do kill "$pid" 2>/dev/null; done <"$IDLE_GROUP/cgroup.procs"
}

idle_group_remove() {
    [[ -n "$IDLE_GROUP" ]] || return 0
    local tries=0
    while [[ -s "$IDLE_GROUP/cgroup.procs" ]] && (( tries++ < 100 )); do sleep 0.1; done  # killed ones exiting
    rmdir "$IDLE_GROUP" 2>/dev/null || echo "make test: could not remove $IDLE_GROUP (a process still in it?)" >&2
    IDLE_GROUP=""
}
