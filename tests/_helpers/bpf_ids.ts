/**
 * The BPF programs and links a process holds, read from its fds' fdinfo (no bpftool features
 * needed): what an agent owns, to compare or to check that it is all gone after a stop.
 *
 * @module
 */

/** Program and link ids held by a process. */
export interface OwnedIds {
  progs: number[];
  links: number[];
}

/** BPF program and link ids held by `pid` (a link's fd counts as the link, not its program). */
export function ownedBy(pid: number): OwnedIds {
  const ids: OwnedIds = { progs: [], links: [] };
  for (const entry of Deno.readDirSync(`/proc/${pid}/fdinfo`)) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${entry.name}`);
    } catch {
      continue; // closed meanwhile
    }
    const link = /^link_id:\s+(\d+)/m.exec(text);
    const prog = /^prog_id:\s+(\d+)/m.exec(text);
    if (link) ids.links.push(Number(link[1]));
    else if (prog) ids.progs.push(Number(prog[1]));
  }
  return ids;
}
