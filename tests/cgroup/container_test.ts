import assert from "node:assert/strict";
import {
  type ContainerIdentity,
  containerUri,
  parseContainerPath,
  shortId,
} from "../../src/cgroup/container.ts";
import { podUidFromPath } from "../../src/cgroup/pod_uid.ts";

const ID = "0c5972fc0d0b7d4c0889ea8010098f07b294449bd948384d2222085be107d8a1";
const ID2 = "9f2e7b4c1a8d3e6f0b5c2a9d8e1f4b7c6a3d0e9f2b5c8a1d4e7f0b3c6a9d2e5f";
const UID = "6795064b-0010-4189-a6fd-fcb7a661cc2c";
const UID_ESC = UID.replaceAll("-", "_");
const STATIC_UID = "487a0dc6dccaeefbcfedba7a7ce1ca18";
const INSTANCE = "6f265890-5165-7fab-6b52-18d1"; // garden LRP instance guid (28 chars)
const TASK = "b7c1e3a5-9d2f-4e6b-8a0c-1d3f5b7a9c2e"; // garden task/pea guid (36 chars)
const ECS_TASK = "5a1e9f3c7b2d4e6a8c0f1b3d5e7a9c2b";

function c(
  runtime: ContainerIdentity["runtime"],
  id: string,
  isRoot = true,
  podUid: string | null = null,
): ContainerIdentity {
  return { runtime, id, podUid, isRoot };
}

const BURSTABLE = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_ESC}.slice`;

/** [cgroup path, expected identity] — real-world layouts per runtime, tricky ones and negatives. */
const CASES: [string, ContainerIdentity | null][] = [
  // docker: cgroupfs and systemd drivers, nesting, namespaced views
  [`/docker/${ID}`, c("docker", ID)],
  [`/system.slice/docker-${ID}.scope`, c("docker", ID)],
  [`/system.slice/docker-${ID}.scope/init.scope`, c("docker", ID, false)],
  [`/docker/${ID}/system.slice/nginx.service`, c("docker", ID, false)],
  [`/docker/${ID}/docker/${ID2}`, c("docker", ID, false)],
  [`/system.slice/docker-${ID}.scope/docker/${ID2}`, c("docker", ID, false)],
  [`/../docker-${ID}.scope`, c("docker", ID)],
  [`${BURSTABLE}/docker-${ID}.scope`, c("docker", ID, true, UID)],
  // containerd: CRI with both drivers and every QoS class, the ':cri-containerd:' form, namespaces
  [`${BURSTABLE}/cri-containerd-${ID}.scope`, c("containerd", ID, true, UID)],
  [
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_ESC}.slice/cri-containerd-${ID}.scope`,
    c("containerd", ID, true, UID),
  ],
  [
    `/kubepods.slice/kubepods-pod${UID_ESC}.slice/cri-containerd-${ID}.scope`,
    c("containerd", ID, true, UID),
  ],
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice/cri-containerd-${ID}.scope`,
    c("containerd", ID, true, STATIC_UID),
  ],
  [
    `/system.slice/containerd.service/kubepods-burstable-pod${UID_ESC}.slice:cri-containerd:${ID}`,
    c("containerd", ID, true, UID),
  ],
  [`/kubepods/burstable/pod${UID}/${ID}`, c("containerd", ID, true, UID)],
  [`/kubepods/besteffort/pod${UID}/${ID}`, c("containerd", ID, true, UID)],
  [`/kubepods/pod${UID}/${ID}`, c("containerd", ID, true, UID)],
  [`/kubepods/pod${STATIC_UID}/${ID}`, c("containerd", ID, true, STATIC_UID)],
  [
    `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_ESC}.slice/cri-containerd-${ID}.scope`,
    c("containerd", ID, true, UID),
  ],
  [
    `/../../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_ESC}.slice/cri-containerd-${ID}.scope`,
    c("containerd", ID, true, UID),
  ],
  [`/default/redis-1`, c("containerd", "redis-1")],
  [`/k8s.io/${ID}`, c("containerd", ID)],
  [`/tenant-a/${ID}`, c("containerd", ID)],
  [`/system.slice/nerdctl-${ID}.scope`, c("containerd", ID)],
  // CRI-O: conmon scopes are not containers; crun's sub-cgroup resolves to the container
  [`${BURSTABLE}/crio-${ID}.scope`, c("cri-o", ID, true, UID)],
  [`${BURSTABLE}/crio-${ID}.scope/container`, c("cri-o", ID, false, UID)],
  [`${BURSTABLE}/crio-conmon-${ID}.scope`, null],
  [`/kubepods/burstable/pod${UID}/crio-${ID}`, c("cri-o", ID, true, UID)],
  [`/kubepods/burstable/pod${UID}/crio-conmon-${ID}`, null],
  // podman: root and rootless, systemd and cgroupfs, crun's 'container' sub-cgroup, split mode
  [`/machine.slice/libpod-${ID}.scope`, c("podman", ID)],
  [`/machine.slice/libpod-${ID}.scope/container`, c("podman", ID, false)],
  [`/machine.slice/libpod-conmon-${ID}.scope`, null],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, c("podman", ID)],
  [
    `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`,
    c("podman", ID, false),
  ],
  [`/libpod_parent/libpod-${ID}`, c("podman", ID)],
  [`/system.slice/myapp.service/libpod-payload-${ID}`, c("podman", ID)],
  // garden: 28-char instance and 36-char task GUIDs, tags, good/bad, init, peas, systemd parent
  [`/garden/${INSTANCE}`, c("garden", INSTANCE)],
  [`/garden/${INSTANCE}/init`, c("garden", INSTANCE, false)],
  [`/garden/good/${INSTANCE}/init`, c("garden", INSTANCE, false)],
  [`/garden/bad/${INSTANCE}`, c("garden", INSTANCE)],
  [`/garden-cf/${INSTANCE}`, c("garden", INSTANCE)],
  [`/garden-cf/good/${TASK}`, c("garden", TASK)],
  [`/system.slice/garden.service/garden/${INSTANCE}`, c("garden", INSTANCE)],
  [`/garden/${TASK}`, c("garden", TASK)],
  [`/garden/${INSTANCE}/${TASK}`, c("garden", INSTANCE, false)],
  [`/garden/not-a-guid`, null],
  [`/system.slice/garden.service`, null],
  // ECS on EC2 and Fargate
  [`/ecs/${ECS_TASK}/${ID}`, c("ecs", ID)],
  [`/ecs/${ECS_TASK}/${ECS_TASK}-1234567890`, c("ecs", `${ECS_TASK}-1234567890`)],
  [`/ecs/3c5e7a9b-1d2f-4a6c-8e0b-2d4f6a8c0e1b/${ID}`, c("ecs", ID)],
  [`/ecs/${ECS_TASK}`, null],
  // ECS with more levels: a level between /ecs and the task, a level between the
  // task and the container, a sub-cgroup below a Fargate container; the outermost id wins.
  [`/ecs/prod-cluster/${ECS_TASK}/${ID}`, c("ecs", ID)],
  [`/ecs/${ECS_TASK}/tasks/${ID}`, c("ecs", ID)],
  [`/system.slice/ecs/prod-cluster/${ECS_TASK}/${ID}/init.scope`, c("ecs", ID, false)],
  [`/ecs/${ECS_TASK}/${ECS_TASK}-1234567890/${ID}`, c("ecs", `${ECS_TASK}-1234567890`, false)],
  [`/ecs/prod-cluster/${ID}`, null],
  [`/ecs/prod-cluster/tasks`, null],
  // LXC: legacy and 4.0+ layouts, inner systemd, nested containers, monitor cgroups
  [`/lxc/c1`, c("lxc", "c1")],
  [`/lxc.payload.c1`, c("lxc", "c1")],
  [`/lxc.payload/web-01`, c("lxc", "web-01")],
  [`/lxc.payload.c1/init.scope`, c("lxc", "c1", false)],
  [`/lxc/c1/lxc/nested`, c("lxc", "c1", false)],
  [`/lxc.monitor.c1`, null],
  // BOSH bpm
  [`/bpm-uaa`, c("bpm", "uaa")],
  [`/system.slice/bpm-loggregator_agent.scope`, c("bpm", "loggregator_agent")],
  // host cgroups
  [`/`, null],
  [`/init.scope`, null],
  [`/system.slice/foo.service`, null],
  [`/system.slice/docker.service`, null],
  [`/system.slice/containerd.service`, null],
  [`/user.slice/user-1000.slice/session-2.scope`, null],
  [BURSTABLE, null],
  [`/kubepods.slice/kubepods-besteffort.slice`, null],
  [`/process_api/0aa9e641ebe3fe305131ab665203a9d2`, null],
  [`/machine.slice/machine-qemu\\x2d1\\x2dvm.scope`, null],
  [`/docker/not-an-id`, null],
];

Deno.test("parseContainerPath() resolves real-world layouts of every runtime", () => {
  const failures: string[] = [];
  for (const [path, expected] of CASES) {
    const actual = parseContainerPath(path);
    try {
      assert.deepEqual(actual, expected);
    } catch {
      failures.push(
        `${path}\n  expected ${JSON.stringify(expected)}\n  got      ${JSON.stringify(actual)}`,
      );
    }
  }
  assert.equal(failures.length, 0, failures.join("\n"));
});

Deno.test("parseContainerPath() resolves nested containers to the outermost one", () => {
  // DinD inside a Kubernetes pod: the pod's container wins, not the inner docker container.
  const path = `${BURSTABLE}/cri-containerd-${ID}.scope/docker/${ID2}`;
  assert.deepEqual(parseContainerPath(path), c("containerd", ID, false, UID));
});

Deno.test("podUidFromPath() unescapes systemd UIDs and accepts static-pod UIDs", () => {
  assert.equal(podUidFromPath(BURSTABLE), UID);
  assert.equal(podUidFromPath(`/kubepods/pod${STATIC_UID}`), STATIC_UID);
  assert.equal(podUidFromPath(`/kubepods/besteffort/pod${UID}/${ID}`), UID);
  assert.equal(podUidFromPath(`/pod${UID}`), null, "a pod<uid> dir outside kubepods is not a pod");
  assert.equal(podUidFromPath("/system.slice"), null);
});

Deno.test("containerUri() and shortId() format ids as Kubernetes and Docker do", () => {
  assert.equal(containerUri(c("cri-o", ID)), `cri-o://${ID}`);
  assert.equal(shortId(ID), "0c5972fc0d0b");
  assert.equal(shortId(INSTANCE), INSTANCE);
});
