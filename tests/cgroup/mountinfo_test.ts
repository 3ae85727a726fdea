import assert from "node:assert/strict";
import {
  decodeMountinfoField,
  encodeDevice,
  MountinfoParseError,
  parseMountinfo,
} from "../../src/cgroup/mountinfo.ts";
import { parseProcCgroups, ProcCgroupsParseError } from "../../src/cgroup/proc_cgroups.ts";
import {
  parseTaskCgroups,
  taskCgroupFor,
  TaskCgroupParseError,
} from "../../src/cgroup/task_cgroup.ts";

Deno.test("parseMountinfo() reads every field of the proc(5) example line", () => {
  const [m] = parseMountinfo(
    "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n",
  );
  assert.deepEqual(m, {
    mountId: 36,
    parentId: 35,
    major: 98,
    minor: 0,
    root: "/mnt1",
    mountPoint: "/mnt2",
    mountOptions: ["rw", "noatime"],
    optionalFields: [{ tag: "master", value: "1" }],
    fsType: "ext3",
    source: "/dev/root",
    superOptions: ["rw", "errors=continue"],
    line: 1,
  });
});

Deno.test("parseMountinfo() takes any number of optional fields up to the separator", () => {
  const text = [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "40 31 0:37 / /sys/fs/cgroup/x rw shared:15 master:3 propagate_from:2 unbindable - cgroup cgroup rw,memory",
  ].join("\n");
  const [none, four] = parseMountinfo(text);
  assert.deepEqual(none?.optionalFields, []);
  assert.deepEqual(four?.optionalFields, [
    { tag: "shared", value: "15" },
    { tag: "master", value: "3" },
    { tag: "propagate_from", value: "2" },
    { tag: "unbindable" },
  ]);
  assert.equal(four?.fsType, "cgroup");
  assert.deepEqual(four?.superOptions, ["rw", "memory"]);
});

Deno.test("parseMountinfo() decodes octal escapes in paths, source and options", () => {
  const [m] = parseMountinfo(
    "77 30 0:50 /a\\040b /mnt/my\\040cgroup\\011tab\\134x rw - cgroup2 my\\040src rw,opt=a\\054b\n",
  );
  assert.equal(m?.root, "/a b");
  assert.equal(m?.mountPoint, "/mnt/my cgroup\ttab\\x");
  assert.equal(m?.source, "my src");
  // seq_show_option() escapes commas in option values as \054, so split before decoding.
  assert.deepEqual(m?.superOptions, ["rw", "opt=a,b"]);
});

Deno.test("parseMountinfo() keeps an empty mount source and a '-' inside a path", () => {
  const [m] = parseMountinfo("90 1 0:60 /-/x /mnt/- rw - tmpfs  rw\n");
  assert.equal(m?.root, "/-/x");
  assert.equal(m?.mountPoint, "/mnt/-");
  assert.equal(m?.source, "");
  assert.equal(m?.fsType, "tmpfs");
});

Deno.test("parseMountinfo() names the line of a malformed entry", () => {
  const text = "22 27 0:21 / /proc rw - proc proc rw\n\n23 27 0:22 / /sys rw sysfs sysfs rw\n";
  assert.throws(() => parseMountinfo(text), MountinfoParseError);
  assert.throws(() => parseMountinfo(text), /mountinfo line 3: no ' - ' separator/);
  assert.throws(() => parseMountinfo("x 1 0:1 / / rw - a b c"), /line 1: mount id/);
  assert.throws(() => parseMountinfo("1 1 01 / / rw - a b c"), /device '01' is not major:minor/);
  assert.throws(() => parseMountinfo("1 1 0:1 / / rw - a b"), /found 2 fields/);
});

Deno.test("decodeMountinfoField() leaves text without escapes alone", () => {
  assert.equal(decodeMountinfoField("/sys/fs/cgroup"), "/sys/fs/cgroup");
  assert.equal(decodeMountinfoField("a\\040b\\040c"), "a b c");
});

Deno.test("encodeDevice() matches the kernel's st_dev encoding", () => {
  assert.equal(encodeDevice(0, 32), 32n);
  assert.equal(encodeDevice(254, 0), 65024n);
  assert.equal(encodeDevice(259, 1), 66305n);
  // Minor numbers above 255 move their high bits above the major (new_encode_dev).
  assert.equal(encodeDevice(0, 300), (300n & 0xffn) | ((300n & ~0xffn) << 12n));
});

Deno.test("parseProcCgroups() numbers controllers by line position", () => {
  const subsystems = parseProcCgroups(
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t1\t1\t1\nmemory\t4\t10\t1\nnet_cls\t0\t1\t0\n",
  );
  assert.deepEqual(subsystems.map((s) => [s.name, s.index, s.hierarchyId, s.enabled]), [
    ["cpuset", 0, 3, true],
    ["cpu", 1, 1, true],
    ["memory", 2, 4, true],
    ["net_cls", 3, 0, false],
  ]);
  assert.throws(() => parseProcCgroups("cpuset 3 x 1\n"), ProcCgroupsParseError);
  assert.throws(() => parseProcCgroups("#subsys_name\n"), /no controller lines/);
});

Deno.test("parseTaskCgroups() splits on the first two colons only", () => {
  const lines = parseTaskCgroups(
    "4:memory:/system.slice/containerd.service/kubepods-besteffort-podx.slice:cri-containerd:abc\n" +
      "3:cpu,cpuacct:/\n1:name=systemd:/init.scope\n0::/init.scope\n",
  );
  assert.equal(
    lines[0]?.path,
    "/system.slice/containerd.service/kubepods-besteffort-podx.slice:cri-containerd:abc",
  );
  assert.deepEqual(lines[1]?.controllers, ["cpu", "cpuacct"]);
  assert.deepEqual(taskCgroupFor(lines, "cpuacct"), lines[1]);
  assert.equal(taskCgroupFor(lines)?.path, "/init.scope");
  assert.equal(taskCgroupFor(lines, "pids"), undefined);
  assert.throws(() => parseTaskCgroups("garbage\n"), TaskCgroupParseError);
  assert.throws(() => parseTaskCgroups("0::relative\n"), /cgroup line 1/);
});
