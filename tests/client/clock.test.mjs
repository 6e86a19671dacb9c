// client/clock.js in Node: the hybrid logical clock's stamps are ordered, move past what the
// server sent, and a corrected offset steps a clock that ran ahead back (never below a stamp seen).
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Clock, stamp } from '../../client/clock.js';

const ms = (h) => Number(h.slice(0, 13));

test('stamps: "<13-digit ms>-<4 hex>-<node>", strictly increasing within one millisecond', () => {
  mock.method(Date, 'now', () => 1700000000000);
  try {
    const c = new Clock('c1.tab');
    const a = c.now(), b = c.now(), d = c.now();
    assert.equal(a, '1700000000000-0000-c1.tab');
    assert.equal(b, '1700000000000-0001-c1.tab');
    assert.ok(a < b && b < d, 'string order is time order');
    assert.equal(stamp(5, 255, 'n'), '0000000000005-00ff-n');
  } finally { mock.restoreAll(); }
});

test('recv: a stamp from the future moves the clock past it; garbage is ignored', () => {
  mock.method(Date, 'now', () => 1700000000000);
  try {
    const c = new Clock('me');
    c.recv('1700000005000-0007-other');
    const next = c.now();
    assert.equal(ms(next), 1700000005000);
    assert.ok(next > '1700000005000-0007-other');
    for (const bad of [null, 42, 'short', 'xxxxxxxxxxxxx-zzzz-n']) c.recv(bad);
    assert.ok(c.now() > next);
  } finally { mock.restoreAll(); }
});

test('adjust: an offset moves physical time; a clock ahead of the corrected time steps back to it, not below a server stamp', () => {
  let now = 1700000000000;
  mock.method(Date, 'now', () => now);
  try {
    const c = new Clock('me');
    assert.equal(c.adjust(60000), false, 'moving forward needs no re-stamp');
    assert.equal(ms(c.now()), now + 60000);
    c.recv(String(now + 30000) + '-0000-srv');
    assert.equal(c.adjust(0), true, 'the clock had run ahead: stamps taken before must be re-stamped');
    assert.equal(ms(c.now()), now + 30000, 'never below the stamp seen from the server');
    now += 40000;
    assert.equal(ms(c.now()), now, 'and physical time again once it passes');
  } finally { mock.restoreAll(); }
});
