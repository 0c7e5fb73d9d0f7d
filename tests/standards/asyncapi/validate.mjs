// Parses and validates an AsyncAPI document with @asyncapi/parser (the AsyncAPI initiative's own
// parser: the JSON Schema of the spec, then its Spectral rules). Prints every diagnostic and a
// JSON summary on the last line; exits 1 on any error or warning.
//   node validate.mjs ../../../shared/asyncapi.yaml
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs ASYNCAPI_FILE");
  process.exit(2);
}
const severities = ["error", "warning", "info", "hint"];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), { source: file });
for (const d of diagnostics) {
  console.log(`${severities[d.severity]} ${d.code} at ${d.path.join("/")}: ${d.message}`);
}
const counted = (level) => diagnostics.filter((d) => d.severity === level).length;
const summary = {
  valid: document !== undefined,
  version: document?.version(),
  channels: document?.channels().length ?? 0,
  operations: document?.operations().length ?? 0,
  send: document?.operations().filterBySend().length ?? 0,
  receive: document?.operations().filterByReceive().length ?? 0,
  messages: document?.components().messages().length ?? 0,
  errors: counted(0),
  warnings: counted(1),
};
console.log(JSON.stringify(summary));
process.exit(summary.valid && summary.errors === 0 && summary.warnings === 0 ? 0 : 1);
