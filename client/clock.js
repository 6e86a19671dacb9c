// The hybrid logical clock that stamps every captured write (docs/protocol.md). Pure: no
// IndexedDB, no DOM; the handle keeps one per tab and moves it with the server's clock.

/**
 * Hybrid logical clock (docs/protocol.md): "<13-digit ms>-<4 hex counter>-<node>". Physical time
 * is Date.now() + offset, where offset (server `now` - local time, see adjust) keeps a client
 * whose clock is minutes off within the server's skew bound.
 */
export class Clock {
  constructor(node) { this.node = node; this.ms = 0; this.c = 0; this.offset = 0; this.remote = 0; }
  wall() { return Date.now() + this.offset; }
  now() {
    const t = Date.now() + this.offset;
    if (t > this.ms) { this.ms = t; this.c = 0; } else if (++this.c > 0xffff) { this.ms++; this.c = 0; }
    return stamp(this.ms, this.c, this.node);
  }
  /** Moves the clock past a stamp received from the server. */
  recv(h) {
    if (typeof h !== 'string' || h.length < 19) return;
    const ms = Number(h.slice(0, 13)), c = parseInt(h.slice(14, 18), 16);
    if (!(ms > 0) || !(c >= 0)) return;
    if (ms > this.remote) this.remote = ms;
    const t = this.wall();
    if (ms > this.ms && ms > t) { this.ms = ms; this.c = c; }
    else if (ms === this.ms && c > this.c) this.c = c;
  }
  /**
   * Adopts a new offset (ms). Returns true when the clock had run ahead of the corrected time and
   * was stepped back (to the corrected time, never below a stamp seen from the server): stamps
   * taken before are then too far ahead and should be re-stamped.
   */
  adjust(offset) {
    this.offset = offset;
    const t = this.wall();
    if (this.ms <= t + 1000) return false;
    this.ms = Math.max(t, this.remote);
    this.c = 0;
    return true;
  }
}
export function stamp(ms, c, node) {
  return String(ms).padStart(13, '0') + '-' + c.toString(16).padStart(4, '0') + '-' + node;
}
