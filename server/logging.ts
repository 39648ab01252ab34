// Copyright mb authors. MIT license.

import {
  configure,
  getJsonLinesFormatter,
  getTextFormatter,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { LogLevel } from "./config.ts";

/**
 * Sends the `mb` log categories to stderr, one line per record, as text or
 * JSON lines. Library users of `Broker` configure LogTape themselves; the
 * broker logs nothing until someone does.
 *
 * @param level Lowest level written.
 * @param format `text` for people, `json` for log collectors.
 */
export async function configureLogging(level: LogLevel, format: "text" | "json"): Promise<void> {
  const formatter = format === "json" ? getJsonLinesFormatter() : getTextFormatter();
  const encoder = new TextEncoder();
  const stderr: Sink = (record: LogRecord) => {
    const bytes = encoder.encode(formatter(record));
    let written = 0;
    while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
  };
  await configure({
    sinks: { stderr },
    loggers: [
      { category: ["mb"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}
