// Mutation testing of the modules that carry baton's promise (nothing lost, invented or
// reordered). Not part of CI or `npm test`: it is slow and CPU-heavy. Run one group at a time:
//
//   npm run mutate                  # every group below, in one run (hours)
//   MUTATE=link npm run mutate      # one group: link | trust | session | world | proxy
//   MUTATE=link npm run mutate -- --mutate 'src/link/sequence.ts'   # part of a group
//
// Runs are incremental (reports/stryker-incremental.json): a re-run tests only mutants whose
// code or covering tests changed.
// Each group mutates its modules and runs only its own fast, deterministic tests
// (vitest.mutate.config.ts reads BATON_MUTATE_TESTS). The HTML report lands in reports/mutation/.

/** @type {Record<string, { mutate: string[]; tests: string[] }>} */
const groups = {
  // link reliability and sequencing
  link: {
    mutate: [
      'src/link/LinkConnection.ts',
      'src/link/sendState.ts',
      'src/link/receiveState.ts',
      'src/link/sequence.ts',
      'src/link/Fifo.ts',
      'src/link/RttEstimator.ts',
      'src/link/ReceiveBudget.ts',
    ],
    // the 70 000-message wrap tests and the 100 000-packet fuzz are too slow per mutant; the
    // near-wrap test crosses the same 16-bit wrap in 3 000 steps
    tests: [
      'src/link/sequence.test.ts',
      'src/link/state.test.ts',
      'src/link/ReceiveBudget.test.ts',
      'src/link/LinkConnection.test.ts',
      'src/link/LinkConnection.nearWrap.test.ts',
      'src/link/LinkConnection.properties.test.ts',
      'src/link/LinkConnection.timing.test.ts',
      'src/link/LinkConnection.rejects.test.ts',
      'src/link/LinkConnection.bandwidth.test.ts',
    ],
  },
  // session trust: retry cookies, Connect reassembly, migration tickets, referral tokens, nonces
  trust: {
    mutate: [
      'src/session/RetryCookie.ts',
      'src/session/ConnectReassembler.ts',
      'src/session/trust/*.ts',
      '!src/session/trust/*.test.ts',
    ],
    tests: [
      'src/session/RetryCookie.test.ts',
      'src/session/ConnectReassembler.test.ts',
      'src/session/trust/*.test.ts',
      'src/session/node/*.test.ts',
    ],
  },
  // the session handshake: address validation, superseding, anti-amplification, timeouts
  session: {
    mutate: ['src/session/SessionHost.ts', 'src/session/ClientSession.ts'],
    tests: [
      'src/session/**/*.test.ts',
      'test/session.handshake.test.ts',
      'test/session.addressReuse.test.ts',
      'test/session.receiveBudget.test.ts',
    ],
  },
  // world delegation and entity migration
  world: {
    mutate: [
      'src/world/HostEngine.ts',
      'src/world/RemoteEngine.ts',
      'src/world/AuthChannel.ts',
      'src/world/carried.ts',
      'src/world/WorldConnection.ts',
    ],
    tests: ['src/world/**/*.test.ts'],
  },
  // seamless migration through the proxy
  proxy: {
    mutate: ['src/proxy/migration/*.ts', 'src/client/MigrationGate.ts', 'src/session/LinkPipe.ts'],
    tests: ['src/proxy/**/*.test.ts', 'src/client/**/*.test.ts', 'test/proxy.migration*.test.ts'],
  },
};

const chosen = process.env.MUTATE ? process.env.MUTATE.split(',') : Object.keys(groups);
for (const name of chosen) {
  if (!groups[name]) throw new Error(`MUTATE=${name}: unknown group (${Object.keys(groups).join(', ')})`);
}
// the test runner processes inherit this and select their test files from it (a value set by
// the caller narrows the selection further, e.g. to the tests that kill a module's mutants)
process.env.BATON_MUTATE_TESTS ??= chosen.flatMap((name) => groups[name].tests).join(',');

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  mutate: chosen.flatMap((name) => groups[name].mutate),
  coverageAnalysis: 'perTest',
  // the machine is shared; a mutant in a hot loop may spin, the timeout ends it
  concurrency: Number(process.env.MUTATE_CONCURRENCY ?? 1),
  timeoutMS: 5_000,
  thresholds: { high: 85, low: 70, break: null },
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
