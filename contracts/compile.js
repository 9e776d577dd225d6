#!/usr/bin/env node
// Compiles contracts/*.sol with the solc npm package pinned in package.json (standard-JSON
// API, no network) and writes one deterministic artifact per deployable contract to the
// directory given as the only argument. Warnings fail the build like errors do.
"use strict";

const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const CONTRACTS_DIR = __dirname;
const EVM_VERSION = "cancun";
const OPTIMIZER_RUNS = 200;
// The IR pipeline makes these contracts about a quarter smaller than the legacy one, which is
// most of their deployment cost (200 gas per byte of code).
const VIA_IR = true;
// The contracts that get deployed; abstract bases, libraries and interfaces are compiled
// into these and get no artifact of their own.
const DEPLOYABLE = ["Directory", "RecordRegistry", "UpdateLog", "AccessControl", "KeyAuthorization", "EhrRegistry"];

function fail(message) {
  process.stderr.write(`compile.js: ${message}\n`);
  process.exit(1);
}

function loadPinnedSolc() {
  const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).devDependencies.solc;
  let solc;
  try {
    solc = require(require.resolve("solc", { paths: [ROOT] }));
  } catch {
    fail("the solc npm package is not installed: run `npm ci` at the repository root");
  }
  const version = solc.version();
  if (!version.startsWith(`${pinned}+`)) fail(`installed solc ${version} is not the pinned ${pinned}: run \`npm ci\``);
  return solc;
}

function standardJsonInput() {
  const sources = {};
  for (const file of fs.readdirSync(CONTRACTS_DIR).filter((f) => f.endsWith(".sol")).sort()) {
    sources[`contracts/${file}`] = { content: fs.readFileSync(path.join(CONTRACTS_DIR, file), "utf8") };
  }
  return {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      viaIR: VIA_IR,
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
      // The artifacts are reproduced by build.sh, so the CBOR metadata trailer would only add
      // 53 bytes (about 11k gas) to every deployment.
      metadata: { appendCBOR: false },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
}

function main() {
  const outDir = process.argv[2];
  if (!outDir) fail("usage: compile.js <output-dir>");
  const solc = loadPinnedSolc();
  const output = JSON.parse(solc.compile(JSON.stringify(standardJsonInput())));

  const diagnostics = output.errors || [];
  for (const diagnostic of diagnostics) process.stderr.write(diagnostic.formattedMessage + "\n");
  if (diagnostics.length > 0) fail(`${diagnostics.length} compiler diagnostic(s); fix them (warnings count too)`);

  fs.mkdirSync(outDir, { recursive: true });
  for (const name of DEPLOYABLE) {
    const compiled = output.contracts[`contracts/${name}.sol`]?.[name];
    if (!compiled) fail(`contract ${name} not found in contracts/${name}.sol`);
    const artifact = {
      contractName: name,
      abi: compiled.abi,
      bytecode: "0x" + compiled.evm.bytecode.object,
      deployedBytecode: "0x" + compiled.evm.deployedBytecode.object,
      solcVersion: solc.version(),
      evmVersion: EVM_VERSION,
      optimizerRuns: OPTIMIZER_RUNS,
      viaIR: VIA_IR,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
  }
}

main();
