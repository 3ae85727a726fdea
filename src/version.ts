/** vigil's version, printed by `vigil version` and exported as build info. */
export const VERSION = "0.1.0";
