// Copyright mb authors. MIT license.

/** The version of this mb build, as in `deno.json`. */
export const VERSION = "0.1.0";
