# Debian roots made with debootstrap, built once per recipe and cached
# outside the work tree, so that every suite (packaging, distro images,
# GRUB oracle, kdump oracle, benchmarks) shares them instead of building
# its own. Source it from bash:
#
#   . tests/lib/debroot.sh
#   tarball=$(debroot_tarball bookworm minbase kexec-tools grub-common)
#   debroot_extract "$tarball" "$work/root"        # a fresh writable copy
#
# The cache is ${KEXECCTL_CACHE:-/var/cache/kexecctl-tests}/roots; a
# tarball's name carries the suite, the variant and a hash of the package
# list and DEBROOT_RECIPE, so a changed recipe builds a new root and an
# unchanged one is reused. Concurrent callers wait on a lock per recipe.
# The archive is the one apt already uses (read from apt's index targets;
# no host name is written here). Needs root.
# shellcheck shell=bash

debroot_cache=${KEXECCTL_CACHE:-/var/cache/kexecctl-tests}/roots
# Bump to rebuild every cached root.
DEBROOT_RECIPE=1

debroot_die() { printf 'debroot: %s\n' "$*" >&2; exit 1; }

debroot_need_debootstrap() {
    command -v debootstrap >/dev/null && return 0
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove \
        -o DPkg::Lock::Timeout=600 debootstrap >&2 || debroot_die "cannot install debootstrap"
}

# The archive apt uses for Debian (bookworm's entry names the mirror for
# every suite of the same archive).
debroot_archive_uri() {
    local uri
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' 2>/dev/null |
          awk '$2 ~ /^(bookworm|trixie)$/ && $3 == "deb" { print $1; exit }')
    [ -n "$uri" ] || debroot_die "apt has no Debian (bookworm or trixie) source to derive the archive from"
    printf '%s\n' "$uri"
}

# debroot_tarball SUITE VARIANT [PACKAGE...]: prints the path of a tar of
# a root of SUITE (bookworm, trixie) made with debootstrap --variant=VARIANT
# (minbase, buildd, or "-" for debootstrap's default) and PACKAGEs included.
debroot_tarball() {
    local suite=$1 variant=$2
    shift 2
    local packages
    packages=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
    local key
    key=$(printf '%s\n' "$DEBROOT_RECIPE" "$suite" "$variant" "$packages" | sha256sum | cut -c1-12)
    local name="$suite-${variant/-/default}-$key"
    local tarball="$debroot_cache/$name.tar"
    mkdir -p "$debroot_cache"
    (
        flock 9
        [ -f "$tarball" ] && exit 0
        debroot_need_debootstrap
        local uri dir="$debroot_cache/$name.tmp" log="$debroot_cache/$name.log"
        uri=$(debroot_archive_uri)
        rm -rf "$dir"
        local args=(--components=main)
        [ "$variant" = "-" ] || args+=("--variant=$variant")
        [ -z "$packages" ] || args+=("--include=$packages")
        printf 'debroot: building %s (%s %s%s)\n' "$name" "$suite" "$variant" \
            "${packages:+ + $packages}" >&2
        if ! debootstrap "${args[@]}" "$suite" "$dir" "$uri" >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            rm -rf "$dir"
            debroot_die "debootstrap $suite failed (log: $log)"
        fi
        # No service may start in a chroot made from this root.
        printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
        chmod 755 "$dir/usr/sbin/policy-rc.d"
        rm -rf "$dir"/var/cache/apt/archives/*.deb
        tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$dir"
    ) 9>"$debroot_cache/.$name.lock" || exit 1
    printf '%s\n' "$tarball"
}

# debroot_extract TARBALL DIR: a fresh copy of the root in DIR, with the
# host's resolv.conf so apt works inside it.
debroot_extract() {
    local tarball=$1 dir=$2
    mkdir -p "$dir"
    tar -C "$dir" -xf "$tarball" || debroot_die "cannot extract $tarball"
    cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
}
