/**
 * A parser worker that fails while loading (as a build that left the real module out would).
 *
 * @module
 */

/// <reference lib="deno.worker" />

throw new Error("this parser worker cannot start");
