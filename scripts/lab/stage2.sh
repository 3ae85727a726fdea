#!/bin/bash
# The lab guest's stage 2, run as PID 1 in the overlay of the host's root: mounts what a
# distribution mounts (cgroups in the layout asked for), mounts the exchange folder, runs the
# command as root in the caller's directory with its output and exit status in that folder, and
# powers off. Parameters come from the kernel command line (vigil_lab_*).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
param() { sed -n "s/.*vigil_lab_$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
poweroff_now() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 60
}
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=0755 run /run
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /run/vigil-lab
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 exchange /run/vigil-lab || {
  echo "lab-stage2: cannot mount the exchange folder" >/dev/console
  poweroff_now
}
x=/run/vigil-lab

# cgroups: v2 alone, hybrid (v1 controllers plus cgroup2 at unified/, as systemd's hybrid mode and
# TAS stemcells), or v1 alone.
layout=$(param cgroup)
controllers() { awk 'NR > 1 && $4 == 1 { print $1 }' /proc/cgroups; }
case "$layout" in
  v2) mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup ;;
  hybrid | v1)
    mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
    for c in $(controllers); do
      mkdir -p "/sys/fs/cgroup/$c"
      mount -t cgroup -o "$c" "$c" "/sys/fs/cgroup/$c"
    done
    mkdir -p /sys/fs/cgroup/systemd
    mount -t cgroup -o none,name=systemd systemd /sys/fs/cgroup/systemd
    if [ "$layout" = hybrid ]; then
      mkdir -p /sys/fs/cgroup/unified
      mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup/unified
    fi
    ;;
esac

# The guest kernel's modules and config where tools look for them.
release=$(uname -r)
kdir=$(param kdir)
mkdir -p "/lib/modules/$release"
mount --bind "$kdir/root/lib/modules/$release" "/lib/modules/$release"
cp "$kdir/config" "/boot/config-$release" 2>/dev/null || true
ip link set lo up 2>/dev/null || true
hostname vigil-lab

# The command: the host wrote it as a script that cds to the caller's directory.
bash "$x/command" >"$x/stdout" 2>"$x/stderr" </dev/null
echo $? >"$x/status.tmp"
mv "$x/status.tmp" "$x/status"
poweroff_now
