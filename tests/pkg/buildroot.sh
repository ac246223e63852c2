# Clean Debian build roots for tests/pkg/run: dpkg-buildpackage with
# Debian's own cargo and rustc, as a Debian maintainer builds.
#
# A build root is a debootstrap buildd root (tests/lib/debroot.sh: the base
# system plus build-essential) into which `apt-get build-dep` installed
# debian/control's Build-Depends and nothing else, so a build that succeeds
# there proves the Build-Depends complete. It is cached as a tarball keyed
# by the base root and the source stanza of debian/control; a changed
# Build-Depends builds a new one. Cargo's registry cache is kept for the
# next run at ${KEXECCTL_CACHE}/cargo-home (crates are fetched from the
# registry at build time: debian/README.source says why).
#
# Needs: debroot.sh sourced, $top (the source tree), $pkg_cache (a cache
# directory), root.
# shellcheck shell=bash

: "${top:?}" "${pkg_cache:?}"
cargo_home=${KEXECCTL_CACHE:-/var/cache/kexecctl-tests}/cargo-home

# buildroot_tarball SUITE: prints the cached tarball of SUITE's build root.
buildroot_tarball() {
    local suite=$1 base key name tarball
    base=$(debroot_tarball "$suite" buildd) || return 1
    key=$({ basename "$base"; sed '/^$/q' "$top/debian/control"; } | sha256sum | cut -c1-12)
    name="$suite-builddeps-$key"
    tarball="$pkg_cache/$name.tar"
    mkdir -p "$pkg_cache"
    (
        flock 9
        [ -f "$tarball" ] && exit 0
        local dir="$pkg_cache/$name.tmp" log="$pkg_cache/$name.log"
        printf 'pkg: building the %s build root (apt-get build-dep)\n' "$suite" >&2
        rm -rf "$dir"
        debroot_extract "$base" "$dir"
        mkdir -p "$dir/tmp/src/debian"
        cp "$top/debian/control" "$dir/tmp/src/debian/control"
        if ! chroot "$dir" /bin/sh -c 'apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq \
                    --no-install-recommends /tmp/src && apt-get clean' >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            rm -rf "$dir"
            printf 'pkg: apt-get build-dep failed in the %s root (log: %s)\n' "$suite" "$log" >&2
            exit 1
        fi
        rm -rf "$dir/tmp/src"
        tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$dir"
        # Roots for an older debian/control are of no further use.
        local old
        for old in "$pkg_cache/$suite"-builddeps-*.tar; do
            [ "$old" = "$tarball" ] || rm -f "$old" "${old%.tar}.log"
        done
    ) 9>"$pkg_cache/.$suite-builddeps.lock" || return 1
    printf '%s\n' "$tarball"
}

# buildroot_prepare TARBALL DIR: a fresh copy of the build root in DIR with
# the source tree (tracked and unignored files only: no target/) in
# /build/kexecctl, owned by an unprivileged user "builder". The root trusts
# the CA certificates this host's administrator added (an HTTPS proxy's,
# say), as the host's own cargo does, so cargo reaches the registry.
buildroot_prepare() {
    local tarball=$1 dir=$2
    debroot_extract "$tarball" "$dir"
    mkdir -p "$dir/build/kexecctl" "$dir/cargo-home"
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$top" ls-files -z --cached --others --exclude-standard |
            tar -C "$top" --null -T - -cf - | tar -C "$dir/build/kexecctl" -xf -
    else
        tar -C "$top" --exclude=./target --exclude=./debian/kexecctl --exclude=./.git -cf - . |
            tar -C "$dir/build/kexecctl" -xf -
    fi
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        chroot "$dir" update-ca-certificates >/dev/null 2>&1
    fi
    chroot "$dir" useradd -m builder
    chroot "$dir" chown -R builder: /build
    # The builder gets its own copy of cargo's cache, so the shared one
    # stays root's (a host account with the builder's uid must not be able
    # to plant sources that root later compiles and runs).
    mkdir -p "$cargo_home"
    cp -a "$cargo_home/." "$dir/cargo-home/"
    chroot "$dir" chown -R builder: /cargo-home
}

# buildroot_harvest DIR: adds what cargo downloaded in the root to the
# shared cache (as root's files), for the next run.
buildroot_harvest() {
    local dir=$1
    [ -d "$dir/cargo-home/registry" ] || return 0
    mkdir -p "$cargo_home/registry"
    cp -r --no-preserve=ownership,mode "$dir/cargo-home/registry/index" \
        "$dir/cargo-home/registry/cache" "$cargo_home/registry/" 2>/dev/null || true
}

# in_buildroot DIR USER CMD [MOUNT:TARGET...]: runs CMD (sh) in the root
# as USER, in /build/kexecctl, in new mount and PID namespaces, without
# CAP_SYS_BOOT (nothing run there can load a kernel into or reboot this
# machine). The root is bind-mounted on itself so that it is a mount point
# and tests can make their own private mount namespaces inside it; /proc,
# /dev (with pts, for script(1)) are mounted, plus each extra host
# directory MOUNT on TARGET. Cargo's cache is the root's /cargo-home.
in_buildroot() {
    local dir=$1 user=$2 cmd=$3
    shift 3
    local home=/root b v
    [ "$user" = root ] || home=/home/$user
    local setup
    setup="mount --bind $(printf %q "$dir") $(printf %q "$dir")"
    setup+=" && mount -t proc proc $(printf %q "$dir/proc")"
    setup+=" && mount --rbind /dev $(printf %q "$dir/dev")"
    for b in "$@"; do
        mkdir -p "$dir${b#*:}"
        setup+=" && mount --bind $(printf %q "${b%%:*}") $(printf %q "$dir${b#*:}")"
    done
    local envs=(PATH=/usr/sbin:/usr/bin:/sbin:/bin "HOME=$home" LANG=C.UTF-8 CARGO_HOME=/cargo-home)
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [ -z "${!v:-}" ] || envs+=("$v=${!v}")
    done
    unshare --mount --pid --fork --propagation private /bin/bash -c "$setup && exec \"\$@\"" bash \
        setpriv --bounding-set -sys_boot chroot "$dir" runuser -u "$user" -- \
        /usr/bin/env -i "${envs[@]}" /bin/sh -c "cd /build/kexecctl && $cmd"
}
