// The Node.js version Cellar needs, checked before anything else loads (plain JS: it must run on
// any Node, including ones too old for the rest).
//
// Why 20.19: notebooks import 'cellar' (an ES module) inside the tslab kernel, which loads cell
// code with require(); require() of an ES module works from Node 20.19 on (unflagged), not before.
// @polyglot-sql/sdk declares "node": ">=22" in its package.json, so npm prints an EBADENGINE
// warning at install on Node 20; its WASM build runs on Node 20 (test/warehouse/dialect.test.ts
// runs it there), so that declaration is not Cellar's requirement. package.json `engines` states
// the same minimum; test/runtime/node-version.test.ts keeps the two in step.
export const MIN_NODE = [20, 19, 0];

/** A clear message when `version` (e.g. process.versions.node) is older than MIN_NODE, else undefined. */
export function nodeVersionProblem(version) {
  const have = String(version)
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) > MIN_NODE[i]) return undefined;
    if ((have[i] ?? 0) < MIN_NODE[i]) {
      return (
        `cellar needs Node.js >= ${MIN_NODE.join('.')}, and this is Node.js ${version} (E_NODE_VERSION).\n` +
        `  Notebooks import 'cellar' inside the TypeScript kernel through require() of an ES module, which Node supports from 20.19 on.\n` +
        `  Install a newer Node.js (20.19 or later, or 22 LTS) and run the command again.`
      );
    }
  }
  return undefined;
}
