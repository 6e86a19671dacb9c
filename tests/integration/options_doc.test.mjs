// The README's option table and `idbsync serve --help` come from different hands (the help is
// generated from the option table in src/cli/cmd_serve.c): this holds them together, flag by
// flag, with its value name and default, so neither can drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, SRC } from './lib/server.mjs';

/** "  --flag ARG   help [default]" lines → Map(flag → {arg, def}). */
function helpOptions() {
  const r = spawnSync(BIN, ['serve', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const opts = new Map();
  // a long help text goes on over indented lines: join them to their option's line
  for (const line of r.stdout.replace(/\n {29}(?=\S)/g, ' ').split('\n')) {
    const m = /^ {2}(--[a-z0-9-]+)(?: (\S+))? +(.*?)(?: \[([^\]]*)\])?$/.exec(line);
    if (m) opts.set(m[1], { arg: m[2] || '', def: m[4] || '' });
  }
  return opts;
}

/** The rows of README's "| option | default | meaning |" table, same shape. */
function readmeOptions() {
  const text = fs.readFileSync(path.join(SRC, 'README.md'), 'utf8');
  const lines = text.split('\n');
  const at = lines.indexOf('| option | default | meaning |');
  assert.ok(at >= 0, 'README has the option table');
  const opts = new Map();
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.replace(/\\\|/g, '\u0000').split('|').slice(1, -1).map((c) => c.trim().replace(/\u0000/g, '|'));
    const m = /^`(--[a-z0-9-]+)(?: (.+))?`$/.exec(cells[0]);
    assert.ok(m, `one flag per row, in backquotes: ${line}`);
    assert.ok(!opts.has(m[1]), `${m[1]} is listed once`);
    opts.set(m[1], { arg: m[2] || '', def: cells[1].replace(/^`|`$/g, '') });
  }
  return opts;
}

test('README lists every serve option with the help text\'s value name and default', () => {
  const help = helpOptions();
  const readme = readmeOptions();
  assert.ok(help.size >= 40, `the help lists the options (${help.size})`);
  assert.deepEqual([...readme.keys()].sort(), [...help.keys()].sort(), 'the same flags');
  for (const [flag, h] of help) assert.deepEqual(readme.get(flag), h, flag);
});
