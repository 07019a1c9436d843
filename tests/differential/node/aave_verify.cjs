// Recompile @aave/core-v3's shipped sources from the package's own Hardhat build-info (its exact
// standard-JSON input: sources and settings) with npm solc (solc-js) at the build's version, and
// write the creation bytecode of the wanted contracts (artifacts.py compares it with the shipped).
// Usage: node aave_verify.cjs <dir holding node_modules/solc> <build-info json> <names json> <out>
// Run by tests/differential/aave/artifacts.py (`--verify`).
"use strict";
const fs = require("fs");
const path = require("path");

const [solcDir, buildInfoFile, namesJson, outFile] = process.argv.slice(2);
const solc = require(path.join(solcDir, "node_modules", "solc"));
const info = JSON.parse(fs.readFileSync(buildInfoFile, "utf8"));
const wanted = JSON.parse(namesJson); // {name: source path}
const input = info.input;
input.settings.outputSelection = {
  "*": { "*": ["evm.bytecode.object", "evm.deployedBytecode.object"] },
};
const started = Date.now();
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const result = { compiler: solc.version(), seconds: (Date.now() - started) / 1000, contracts: {} };
for (const [name, source] of Object.entries(wanted)) {
  result.contracts[name] = output.contracts[source][name].evm.bytecode.object;
}
fs.writeFileSync(outFile, JSON.stringify(result));
console.log(`compiled with solc ${result.compiler} in ${result.seconds} s`);
