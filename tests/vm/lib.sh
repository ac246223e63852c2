# Shared by tests/vm/run (the suite) and tests/vm/bench (the benchmark):
# downloads into a cache outside the work tree, the static kexecctl, the
# initramfs, acceleration detection and a QEMU runner that timestamps every
# serial line and kills only the QEMU it started.
# shellcheck shell=bash

vm_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm_top=$(cd "$vm_here/../.." && pwd)
vm_cache=${KEXECCTL_CACHE:-/var/cache/kexecctl-tests}/vm
vm_work=$(mktemp -d "${TMPDIR:-/tmp}/kexecctl-vm.XXXXXX")
vm_pids=()
# When > 0, vm_run ends QEMU after this many /init banners (firmware
# reboots: the guest cannot tell a rebooted boot from the first).
vm_stop_inits=0

vm_cleanup() {
    local pid
    for pid in "${vm_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$vm_work"
}
trap vm_cleanup EXIT

vm_say() { printf '==> %s\n' "$*"; }
vm_die() { printf 'vm: %s\n' "$*" >&2; exit 1; }

# Downloads a Debian package into the cache once; prints its path.
vm_fetch_deb() {
    local name=$1 dir="$vm_cache/debs"
    mkdir -p "$dir"
    local found
    found=$(find "$dir" -maxdepth 1 -name "${name}_*.deb" | head -n 1)
    if [ -z "$found" ]; then
        (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$name") >&2 ||
            { apt-get update -qq >&2 &&
                (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$name") >&2; } ||
            vm_die "cannot download $name with apt-get download"
        found=$(find "$dir" -maxdepth 1 -name "${name}_*.deb" | head -n 1)
    fi
    printf '%s\n' "$found"
}

# Debian's signed cloud kernel: sets vm_kernel (bzImage) and vm_release.
vm_kernel_setup() {
    local meta versioned deb
    meta=$(vm_fetch_deb linux-image-cloud-amd64)
    versioned=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
    [ -n "$versioned" ] || vm_die "linux-image-cloud-amd64 names no versioned kernel"
    deb=$(vm_fetch_deb "$versioned")
    vm_release=${versioned#linux-image-}
    local dir="$vm_cache/kernel-$vm_release"
    if [ ! -f "$dir/boot/vmlinuz-$vm_release" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" "./boot/vmlinuz-$vm_release"
    fi
    vm_kernel="$dir/boot/vmlinuz-$vm_release"
}

# Debian's generic kernel (linux-image-amd64), which has the watchdog
# drivers the cloud flavour lacks (i6300esb, iTCO_wdt), and the modules
# named in "$@" with everything they depend on: sets vm_gkernel,
# vm_grelease and vm_gmodules (a directory of .ko files plus "order", the
# load order, dependencies first).
vm_generic_kernel_setup() {
    local meta versioned deb
    meta=$(vm_fetch_deb linux-image-amd64)
    versioned=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
    [ -n "$versioned" ] || vm_die "linux-image-amd64 names no versioned kernel"
    deb=$(vm_fetch_deb "$versioned")
    vm_grelease=${versioned#linux-image-}
    local dir="$vm_cache/kernel-$vm_grelease"
    if [ ! -f "$dir/boot/vmlinuz-$vm_grelease" ] || [ ! -d "$dir/lib/modules" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" "./boot/vmlinuz-$vm_grelease" "./lib/modules"
    fi
    vm_gkernel="$dir/boot/vmlinuz-$vm_grelease"
    vm_gmodules="$vm_work/modules-$vm_grelease"
    rm -rf "$vm_gmodules" && mkdir -p "$vm_gmodules"
    local tree="$dir/lib/modules/$vm_grelease/kernel" done=" " name
    # visit NAME: its dependencies first (from the module's own modinfo
    # section), then itself. Soft dependencies (crc32c for ext4) are named
    # by the caller.
    visit() {
        local file dep
        case "$done" in *" $1 "*) return ;; esac
        done="$done$1 "
        file=$(find "$tree" -name "$1.ko" -print -quit)
        [ -n "$file" ] || vm_die "no module $1 in $versioned"
        for dep in $(tr '\0' '\n' < "$file" | sed -n 's/^depends=//p' | tr ',' ' '); do
            visit "$dep"
        done
        cp "$file" "$vm_gmodules/"
        echo "$1" >> "$vm_gmodules/order"
    }
    for name in "$@"; do
        visit "$name"
    done
}

vm_busybox_setup() {
    local dir="$vm_cache/busybox"
    if [ ! -x "$dir/bin/busybox" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        dpkg-deb -x "$(vm_fetch_deb busybox-static)" "$dir"
    fi
    vm_busybox="$dir/bin/busybox"
}

# A statically linked kexecctl (glibc, +crt-static), in its own target dir.
vm_kexecctl_setup() {
    local target=x86_64-unknown-linux-gnu
    (cd "$vm_top" && CARGO_TARGET_DIR="$vm_top/target/static" \
        RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --quiet --release --target "$target") || vm_die "static build failed"
    vm_kexecctl="$vm_top/target/static/$target/release/kexecctl"
    ldd "$vm_kexecctl" 2>&1 | grep -Eq 'statically linked|not a dynamic' ||
        vm_die "$vm_kexecctl is not statically linked"
}

# The same kernel with its Authenticode signature removed: the certificate
# table entry zeroed and the file cut where the table began.
vm_strip_signature() {
    local in=$1 out=$2 pe opt magic dirs off size
    u32() { od -An -t u4 -j "$1" -N 4 "$in" | tr -d ' '; }
    u16() { od -An -t u2 -j "$1" -N 2 "$in" | tr -d ' '; }
    pe=$(u32 60)
    opt=$((pe + 24))
    magic=$(u16 "$opt")
    case "$magic" in 523) dirs=$((opt + 112)) ;; 267) dirs=$((opt + 96)) ;; *) vm_die "not a PE image: $in" ;; esac
    off=$(u32 $((dirs + 32)))
    size=$(u32 $((dirs + 36)))
    [ "$size" -gt 0 ] || vm_die "$in carries no signature to strip"
    head -c "$off" "$in" > "$out"
    printf '\0\0\0\0\0\0\0\0' | dd of="$out" bs=1 seek=$((dirs + 32)) conv=notrunc status=none
}

# Builds $vm_work/initrd.img: cpio B (uncompressed: the kernels and the
# initrd to kexec into) then cpio A (gzip: busybox, /init, kexecctl,
# scenarios). A alone is /initrd.img, so the kexec'd and crash kernels
# boot the same /init without the payload. Extra files for A: "src:dest".
vm_initramfs() {
    local a="$vm_work/a" b="$vm_work/b"
    rm -rf "$a" "$b" && mkdir -p "$a"/{bin,sbin,usr/sbin,dev,scenarios} "$b"
    cp "$vm_busybox" "$a/bin/busybox"
    install -m 0755 "$vm_here/guest/init" "$a/init"
    install -m 0755 "$vm_here/guest/reboot" "$a/sbin/reboot"
    cp "$vm_here"/guest/scenarios/* "$a/scenarios/"
    install -m 0755 "$vm_kexecctl" "$a/usr/sbin/kexecctl"
    for p in kexec-load coldreboot kdump-setup fastreboot; do
        ln -s kexecctl "$a/usr/sbin/$p"
    done
    printf 'this is not a kernel image\n' > "$a/corrupt.img"
    mknod "$a/dev/console" c 5 1
    local spec
    for spec in "$@"; do
        mkdir -p "$a/$(dirname "${spec#*:}")"
        cp -L "${spec%%:*}" "$a/${spec#*:}"
    done
    (cd "$a" && find . | cpio -o -H newc --quiet | gzip -1) > "$vm_work/a.cpio.gz"
    cp "$vm_kernel" "$b/vmlinuz"
    vm_strip_signature "$vm_kernel" "$b/vmlinuz.unsigned"
    cp "$vm_work/a.cpio.gz" "$b/initrd.img"
    (cd "$b" && find . | cpio -o -H newc --quiet) > "$vm_work/b.cpio"
    cat "$vm_work/b.cpio" "$vm_work/a.cpio.gz" > "$vm_work/initrd.img"
}

# KVM only when it really boots a kernel here (nested KVM often aborts).
vm_accel=(-accel tcg)
vm_detect_accel() {
    vm_accel=(-accel tcg)
    if [ -w /dev/kvm ] && [ "${KEXECCTL_VM_ACCEL:-auto}" != tcg ]; then
        if (vm_run kvm-probe 40 "vmtest=probe" -accel kvm -cpu host) 2>/dev/null &&
            grep -q 'VMT: done' "$vm_work/kvm-probe.log"; then
            vm_accel=(-accel kvm -cpu host)
            vm_say "KVM works: using it"
            return
        fi
        vm_say "/dev/kvm exists but cannot boot a kernel here: using TCG"
    else
        vm_say "no usable /dev/kvm: using TCG"
    fi
}

# vm_run NAME TIMEOUT APPEND [QEMU ARGS...]: boots the initramfs; returns 0
# when QEMU ended by itself within TIMEOUT seconds. The serial log, each
# line prefixed with the host time, is $vm_work/NAME.log.
vm_run() {
    local name=$1 timeout=$2 append=$3
    shift 3
    local log="$vm_work/$name.log"
    local args=(-m 1024 -smp 1 -nodefaults -display none -serial stdio
        -kernel "$vm_kernel" -initrd "${vm_initrd:-$vm_work/initrd.img}"
        -append "console=ttyS0 panic=-1 $append")
    if [ "${vm_debugcon:-0}" = 1 ]; then
        # The firmware's own log (SeaBIOS writes to port 0x402), timestamped
        # like the serial lines in NAME.fw: its first line is the moment of
        # every reset.
        rm -f "$vm_work/$name.fw".{in,out}
        mkfifo "$vm_work/$name.fw.in" "$vm_work/$name.fw.out"
        args+=(-chardev "pipe,id=fw,path=$vm_work/$name.fw" -device isa-debugcon,iobase=0x402,chardev=fw)
        while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"; done \
            < "$vm_work/$name.fw.out" > "$vm_work/$name.fw" &
        vm_pids+=("$!")
    fi
    local has_accel=0 a
    for a in "$@"; do [ "$a" = -accel ] && has_accel=1; done
    [ "$has_accel" = 1 ] || args=("${vm_accel[@]}" "${args[@]}")
    printf '%s\n' "qemu-system-x86_64 ${args[*]} $*" > "$vm_work/$name.cmd"
    : > "$log"
    qemu-system-x86_64 "${args[@]}" "$@" </dev/null > >(
        while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"; done > "$log"
    ) 2>&1 &
    local pid=$!
    vm_pids+=("$pid")
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$vm_stop_inits" -gt 0 ] &&
            [ "$(grep -c 'VMT: init ' "$log" 2>/dev/null)" -ge "$vm_stop_inits" ]; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            sleep 0.2
            return 1
        fi
        sleep 0.2
    done
    wait "$pid" 2>/dev/null
    sleep 0.2
    return 0
}


# Debian's /sbin/kexec and the libraries it needs that the host lacks
# (Debian builds kexec-tools with Xen support); prints initramfs specs.
vm_kexec_tools_specs() {
    local dir="$vm_cache/kexec-tools"
    if [ ! -x "$dir/root/sbin/kexec" ]; then
        rm -rf "$dir" && mkdir -p "$dir/root"
        local queue=(kexec-tools) seen=" kexec-tools " pkg dep
        local all=()
        while [ ${#queue[@]} -gt 0 ]; do
            pkg=${queue[0]}
            queue=("${queue[@]:1}")
            all+=("$pkg")
            for dep in $(apt-cache depends --no-recommends --no-suggests --no-conflicts \
                --no-breaks --no-replaces --no-enhances "$pkg" |
                awk '/Depends:/ { print $2 }' | tr -d '<>' | grep '^lib' || true); do
                case "$seen" in *" $dep "*) continue ;; esac
                seen="$seen$dep "
                dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'install ok installed' && continue
                queue+=("$dep")
            done
        done
        for pkg in "${all[@]}"; do
            dpkg-deb -x "$(vm_fetch_deb "$pkg")" "$dir/root"
        done
    fi
    local libs="$dir/root/lib/x86_64-linux-gnu:$dir/root/usr/lib/x86_64-linux-gnu"
    echo "$dir/root/sbin/kexec:sbin/kexec"
    LD_LIBRARY_PATH=$libs ldd "$dir/root/sbin/kexec" |
        awk '/=> \// { print $3 } /^\t\// { print $1 }' |
        while read -r lib; do
            echo "$lib:lib/x86_64-linux-gnu/$(basename "$lib")"
        done
    echo "/lib64/ld-linux-x86-64.so.2:lib64/ld-linux-x86-64.so.2"
}
