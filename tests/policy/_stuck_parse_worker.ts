/**
 * A parser worker that never finishes a parse (a stand-in for a text that defeats every limit):
 * ready at once, then a busy loop on the first message. Used to show the deadline and that the
 * main thread keeps running meanwhile.
 *
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = () => {
  for (;;) { /* stuck */ }
};
self.postMessage({ ready: true });
