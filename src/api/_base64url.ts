/**
 * base64url without padding (RFC 4648 §5), for tokens. Private to `src/api/`.
 *
 * @module
 */

/** Encodes bytes as base64url without `=` padding. */
export function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
