# Shared by tests/distro/image (the cached Debian disk images), tests/distro/run
# (the scenarios) and any suite that boots those images: paths, the QEMU
# runner that timestamps every serial line and kills only the QEMU it
# started, and the accelerator probe. Source it from bash.
# shellcheck shell=bash

dt_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dt_top=$(cd "$dt_here/../.." && pwd)
dt_cache=${KEXECCTL_CACHE:-/var/cache/kexecctl-tests}/distro
dt_work=${dt_work:-}
dt_pids=()

dt_say() { printf '==> %s\n' "$*" >&2; }
dt_die() { printf 'distro: %s\n' "$*" >&2; exit 1; }

dt_cleanup() {
    local pid
    for pid in "${dt_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [ -n "$dt_work" ] && [ -z "${KEEP:-}" ]; then
        rm -rf "$dt_work"
    fi
}

# dt_init_work: a scratch directory removed on exit (KEEP=1 keeps it).
dt_init_work() {
    [ -n "$dt_work" ] && return 0
    dt_work=$(mktemp -d "${TMPDIR:-/tmp}/kexecctl-distro.XXXXXX")
    trap dt_cleanup EXIT
}

# dt_host_tools: what building and booting the images needs on the host.
dt_host_tools() {
    "$dt_top/tests/vm/install-qemu" >/dev/null || dt_die "cannot install QEMU (tests/vm/install-qemu)"
    local need=() p
    for p in debootstrap fdisk qemu-utils e2fsprogs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        dt_say "installing ${need[*]}"
        apt-get update -qq >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${need[@]}" >&2 || dt_die "cannot install ${need[*]}"
    fi
}

# The accelerator: KVM only when it really boots a kernel here (nested KVM
# often cannot), else TCG. KEXECCTL_VM_ACCEL=tcg skips the probe.
dt_accel=(-accel tcg)
dt_detect_accel() {
    local kernel=$1
    dt_accel=(-accel tcg)
    if [ -w /dev/kvm ] && [ "${KEXECCTL_VM_ACCEL:-auto}" != tcg ]; then
        # With no root file system the kernel panics at once; under a
        # working KVM that takes a few seconds.
        if dt_qemu kvm-probe 40 '' -accel kvm -cpu host -no-reboot -kernel "$kernel" \
            -append "console=ttyS0 panic=-1" 2>/dev/null &&
            grep -q 'Kernel panic' "$dt_work/kvm-probe.log"; then
            dt_accel=(-accel kvm -cpu host)
            dt_say "KVM boots a kernel here: using it"
            return
        fi
        dt_say "/dev/kvm exists but does not boot a kernel here: using TCG"
    else
        dt_say "no usable /dev/kvm: using TCG"
    fi
}

# dt_qemu NAME TIMEOUT STOP [QEMU ARGS...]: runs QEMU with the serial line
# on stdio. Each serial line is written to $dt_work/NAME.log prefixed with
# the host time (seconds since the epoch). Returns 0 when QEMU ended by
# itself, 2 when a line matching the extended regex STOP (if not empty)
# appeared and QEMU was then stopped after 3 quiet seconds, 1 on TIMEOUT
# seconds. Without an -accel argument the detected accelerator is used.
dt_qemu() {
    local name=$1 timeout=$2 stop=$3
    shift 3
    local log="$dt_work/$name.log"
    local args=(-nodefaults -display none -serial stdio -m "${DT_MEM:-1024}" -smp 1)
    local has_accel=0 a
    for a in "$@"; do [ "$a" = -accel ] && has_accel=1; done
    [ "$has_accel" = 1 ] || args=("${dt_accel[@]}" "${args[@]}")
    printf '%q ' qemu-system-x86_64 "${args[@]}" "$@" > "$dt_work/$name.cmd"
    : > "$log"
    qemu-system-x86_64 "${args[@]}" "$@" </dev/null > >(
        while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"; done > "$log"
    ) 2>&1 &
    local pid=$!
    dt_pids+=("$pid")
    local deadline=$((SECONDS + timeout)) stopping=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ -n "$stop" ] && [ "$stopping" = 0 ] && grep -Eq -- "$stop" "$log"; then
            stopping=$((SECONDS + 3))
        fi
        if [ "$stopping" != 0 ] && [ "$SECONDS" -ge "$stopping" ]; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            sleep 0.2
            return 2
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            sleep 0.2
            return 1
        fi
        sleep 0.5
    done
    wait "$pid" 2>/dev/null
    sleep 0.2
    return 0
}
