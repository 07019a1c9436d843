// Compile Morpho Blue (npm @morpho-org/morpho-blue) and its mocks with solc-js through standard-JSON.
// Usage: node compile.cjs <cache dir holding node_modules> <settings json> <out file>
// Written by tests/differential/artifacts.py; nothing here is committed but this script.
"use strict";
const fs = require("fs");
const path = require("path");

const [cacheDir, settingsJson, outFile] = process.argv.slice(2);
const solc = require(path.join(cacheDir, "node_modules", "solc"));
const root = path.join(cacheDir, "node_modules", "@morpho-org", "morpho-blue");
const entries = [
  "src/Morpho.sol",
  "src/mocks/ERC20Mock.sol",
  "src/mocks/OracleMock.sol",
  "src/mocks/IrmMock.sol",
  "src/mocks/FlashBorrowerMock.sol",
];
const sources = {};
for (const file of entries) sources[file] = { content: fs.readFileSync(path.join(root, file), "utf8") };

function findImports(importPath) {
  const full = path.join(root, importPath);
  if (!full.startsWith(root)) return { error: "outside the package: " + importPath };
  try {
    return { contents: fs.readFileSync(full, "utf8") };
  } catch (e) {
    return { error: "not found: " + importPath };
  }
}

const settings = JSON.parse(settingsJson);
settings.outputSelection = {
  "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
};
const input = { language: "Solidity", sources, settings };
const started = Date.now();
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const wanted = {
  Morpho: "src/Morpho.sol",
  ERC20Mock: "src/mocks/ERC20Mock.sol",
  OracleMock: "src/mocks/OracleMock.sol",
  IrmMock: "src/mocks/IrmMock.sol",
  FlashBorrowerMock: "src/mocks/FlashBorrowerMock.sol",
};
const contracts = {};
for (const [name, file] of Object.entries(wanted)) {
  const c = output.contracts[file][name];
  contracts[name] = {
    source: file,
    abi: c.abi,
    bytecode: c.evm.bytecode.object,
    deployedBytecode: c.evm.deployedBytecode.object,
  };
}
const result = {
  compiler: solc.version(),
  settings: input.settings,
  seconds: (Date.now() - started) / 1000,
  contracts,
};
fs.writeFileSync(outFile + ".tmp", JSON.stringify(result));
fs.renameSync(outFile + ".tmp", outFile);
console.log(`compiled ${Object.keys(contracts).join(", ")} with solc ${solc.version()} in ${result.seconds} s`);
