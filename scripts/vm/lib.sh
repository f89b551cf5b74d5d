# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Sourced by scripts/vm/run.sh and scripts/kernels.sh: installs what the VM needs, fetches and
# caches Debian's Linux 6.1 kernel, and builds the base initramfs. Bash only.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)

# Where the extracted kernel and the base initramfs live: shared by every clone on the machine
# when we may write /var/cache, else under this clone's target/.
if [ -z "${OXBPF_VM_CACHE:-}" ]; then
    if mkdir -p /var/cache/oxbpf-vm 2>/dev/null && [ -w /var/cache/oxbpf-vm ]; then
        OXBPF_VM_CACHE=/var/cache/oxbpf-vm
    else
        OXBPF_VM_CACHE=$REPO/target/vm-cache
    fi
fi
# The guest's writable share: mounted at the same path inside the guest.
VM_OUT=${OXBPF_VM_OUT:-$REPO/target/vm-out}

# The modules /init loads (in this order) to mount the host's root over virtio 9p.
VM_BOOT_MODULES="netfs fscache 9pnet 9p virtio_ring virtio virtio_pci_modern_dev \
virtio_pci_legacy_dev virtio_pci 9pnet_virtio"

vm_log() { printf 'vm: %s\n' "$*" >&2; }
# set -e would end a script silently: say where.
trap 'vm_log "failed (exit $?) at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND"' ERR
vm_die() { printf 'vm: error: %s\n' "$*" >&2; exit 125; }

apt_updated=
vm_apt_install() {
    [ "$(id -u)" = 0 ] || vm_die "missing $*; run as root (or install: apt-get install $*)"
    if [ -z "$apt_updated" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || vm_die "apt-get update failed"
        apt_updated=1
    fi
    vm_log "installing $*"
    # No recommends: they would replace a newer qemu-utils and pull a desktop's worth of
    # packages.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null || vm_die "apt-get install $* failed"
}

# qemu and a static busybox (the initramfs's only program).
vm_ensure_tools() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x depmod >/dev/null ||
        missing+=(busybox-static)
    [ ${#missing[@]} = 0 ] || vm_apt_install "${missing[@]}"
    # busybox-static must really be static: the initramfs has no libc.
    if ldd /bin/busybox >/dev/null 2>&1; then
        vm_apt_install busybox-static
    fi
}

# The newest Debian 6.1 kernel package: the one linux-image-amd64 points at (bookworm's
# metapackage), else the highest ABI number the archive lists.
vm_newest_kernel_pkg() {
    local signed pkg
    signed=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1)
    if [ -n "$signed" ] && apt-cache show "$signed-unsigned" >/dev/null 2>&1; then
        echo "$signed-unsigned"
        return
    fi
    pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
        grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -n1)
    [ -n "$pkg" ] || return 1
    echo "$pkg"
}

# Sets KVER (e.g. 6.1.0-56-amd64), KDIR (the extracted package), VMLINUZ, MODDIR. Uses the
# newest kernel already in the cache, unless OXBPF_VM_KERNEL names a package or
# OXBPF_VM_REFRESH=1 asks the archive for a newer one.
vm_ensure_kernel() {
    local pkg="${OXBPF_VM_KERNEL:-}" cached
    mkdir -p "$OXBPF_VM_CACHE"
    cached=$(find "$OXBPF_VM_CACHE" -maxdepth 1 -name 'linux-image-6.1.0-*-amd64-unsigned' \
        -type d 2>/dev/null | sort -V | tail -n1)
    if [ -z "$pkg" ] && [ -n "$cached" ] && [ "${OXBPF_VM_REFRESH:-0}" != 1 ]; then
        pkg=$(basename "$cached")
    fi
    if [ -z "$pkg" ]; then
        if [ -z "$apt_updated" ] && [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
                vm_die "apt-get update failed"
            apt_updated=1
        fi
        pkg=$(vm_newest_kernel_pkg) || vm_die "no linux-image-6.1.0-*-amd64-unsigned in apt's lists"
    fi
    KDIR=$OXBPF_VM_CACHE/$pkg
    KVER=${pkg#linux-image-}
    KVER=${KVER%-unsigned}
    if [ ! -f "$KDIR/.complete" ]; then
        vm_log "fetching $pkg into $OXBPF_VM_CACHE"
        local tmp
        tmp=$(mktemp -d "$OXBPF_VM_CACHE/.fetch.XXXXXX")
        # apt drops privileges to _apt for downloads; a private dir it can write avoids the
        # "unsandboxed" warning.
        chmod 777 "$tmp"
        (cd "$tmp" && apt-get download -qq "$pkg" >&2) || {
            rm -rf "$tmp"
            vm_die "apt-get download $pkg failed"
        }
        dpkg-deb --field "$tmp"/*.deb Version >"$tmp/version"
        dpkg -x "$tmp"/*.deb "$tmp/root" || vm_die "dpkg -x failed"
        # modules.dep and modules.alias let the guest autoload veth, sch_ingress, cls_bpf...
        /bin/busybox depmod -b "$tmp/root" "$KVER" || vm_die "depmod failed"
        rm -f "$tmp"/*.deb
        rm -rf "$KDIR"
        mv "$tmp/root" "$KDIR"
        mv "$tmp/version" "$KDIR/.version"
        rmdir "$tmp" 2>/dev/null || rm -rf "$tmp"
        touch "$KDIR/.complete"
    fi
    VMLINUZ=$KDIR/boot/vmlinuz-$KVER
    MODDIR=$KDIR/lib/modules/$KVER
    KPKGVER=$(cat "$KDIR/.version" 2>/dev/null || echo unknown)
    [ -f "$VMLINUZ" ] || vm_die "$VMLINUZ missing"
}

# Sets INITRD_BASE: busybox, /init and the boot modules, as an uncompressed newc cpio. Rebuilt
# when init changes.
vm_ensure_initramfs() {
    local sum stage m ko
    sum=$(cat "$VM_DIR/init" /bin/busybox | md5sum | cut -c1-12)
    INITRD_BASE=$KDIR/initramfs-$sum.cpio
    [ -f "$INITRD_BASE" ] && return
    stage=$(mktemp -d)
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt/root,modules,lib/modules,run}
    cp /bin/busybox "$stage/bin/busybox"
    # /init installs the other applets' links itself.
    ln -s busybox "$stage/bin/sh"
    for m in $VM_BOOT_MODULES; do
        ko=$(find "$MODDIR/kernel" -name "$m.ko" | head -n1)
        [ -n "$ko" ] || vm_die "module $m.ko not found under $MODDIR"
        cp "$ko" "$stage/modules/"
    done
    cp "$VM_DIR/init" "$stage/init"
    chmod 755 "$stage/init"
    (cd "$stage" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$INITRD_BASE.$$"
    mv "$INITRD_BASE.$$" "$INITRD_BASE"
    rm -rf "$stage"
}

# POSIX single-quoting of one word, for the script the guest runs.
vm_quote() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}
