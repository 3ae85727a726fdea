/**
 * What the policy engine's programs need of the kernel: root, and bpf_loop (5.17+; the engine
 * also calls bpf_get_attach_cookie, 5.15+). On older kernels (Debian's 5.10, Amazon Linux 2) the
 * policy end-to-end tests are ignored loudly with the probe's reason.
 *
 * @module
 */
import type { Need } from "../_helpers/requires.ts";

export const POLICY_ENGINE_NEEDS: readonly Need[] = ["root", "bpf_loop"];
