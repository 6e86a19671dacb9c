// The integration suites' harness is tests/lib/server.mjs (one for every Node suite); this
// entry point stays for code that still imports it from here.
export * from '../../lib/server.mjs';
