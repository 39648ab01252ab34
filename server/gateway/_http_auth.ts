// Copyright mb authors. MIT license.
// The bearer token check of the HTTP API.

const BEARER_REGEXP = /^bearer[ \t]+(.*)$/i;

/** Checks `Authorization: Bearer <token>` in time that depends only on the lengths. */
export function bearerMatches(header: string | null, token: string): boolean {
  const given = header === null ? "" : (BEARER_REGEXP.exec(header.trim())?.[1] ?? "");
  let difference = given.length ^ token.length;
  for (let i = 0; i < token.length; i++) {
    difference |= (given.charCodeAt(i) | 0) ^ token.charCodeAt(i);
  }
  return difference === 0;
}
