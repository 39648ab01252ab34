// Copyright mb authors. MIT license.
// This module is browser compatible.

/**
 * Quotes a value for an error message: JSON string syntax, shortened to 80
 * characters so a hostile 64 KiB topic does not become a 64 KiB message.
 */
export function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
