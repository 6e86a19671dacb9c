// Tab coordination: exactly one tab per database runs the background sync (it holds a Web Lock);
// the others wait for the lock and learn about changes over a BroadcastChannel. The leader sends
// heartbeats; if they stop (a frozen tab keeps its lock), a follower steals the lock.

const HEARTBEAT_MS = 2000;
const STALE_MS = 10000;         // no heartbeat for this long from a visible leader: steal
const STALE_HIDDEN_MS = 75000;  // hidden tabs' timers are throttled to about once a minute

export class Tabs {
  /**
   * @param {string} name database name
   * @param {{onLead: (signal: AbortSignal) => Promise<void>, onMessage: (msg: any) => void}} h
   */
  constructor(name, h) {
    this.name = name;
    this.h = h;
    this.id = Math.random().toString(36).slice(2, 8);
    this.leader = false;
    this.lastHb = Date.now();
    this.leaderHidden = false;
    this.closed = false;
    this.ctl = null;
    this.locks = typeof navigator !== 'undefined' && navigator.locks ? navigator.locks : null;
    this.chan = typeof BroadcastChannel === 'function' ? new BroadcastChannel('idbsync:' + name) : null;
    if (this.chan) this.chan.onmessage = (e) => this.onMsg(e.data);
  }

  get lockName() { return 'idbsync:leader:' + this.name; }

  post(msg) { if (this.chan && !this.closed) this.chan.postMessage({ ...msg, from: this.id }); }

  onMsg(m) {
    if (!m || m.from === this.id) return;
    if (m.t === 'hb') { this.lastHb = Date.now(); this.leaderHidden = !!m.hidden; return; }
    this.h.onMessage(m);
  }

  /** Competes for leadership until stop(); onLead runs while this tab leads. */
  start() {
    if (this.ctl || this.closed) return;
    this.ctl = new AbortController();
    const signal = this.ctl.signal;
    this.watch = setInterval(() => this.checkLeader(), HEARTBEAT_MS + 500);
    this.request(false, signal);
  }

  request(steal, signal) {
    const run = async () => {
      this.leader = true;
      this.lastHb = Date.now();
      const lead = new AbortController();
      this.leadCtl = lead;
      const hb = setInterval(() => this.post({ t: 'hb', hidden: typeof document !== 'undefined' && document.hidden }), HEARTBEAT_MS);
      this.post({ t: 'hb' });
      const onAbort = () => lead.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await this.h.onLead(lead.signal);
      } finally {
        clearInterval(hb);
        signal.removeEventListener('abort', onAbort);
        this.leader = false;
        this.leadCtl = null;
      }
    };
    if (!this.locks) { run(); return; }
    const opts = steal ? { steal: true } : { signal };
    this.locks.request(this.lockName, opts, run).catch((e) => {
      // Stolen (AbortError while we run) or our own stop(): stop leading; compete again unless stopped.
      if (this.leadCtl) this.leadCtl.abort();
      if (!signal.aborted && !this.closed) setTimeout(() => this.request(false, signal), 50);
      else if (e && e.name !== 'AbortError') console.warn('idbsync: lock request failed', e);
    });
  }

  async checkLeader() {
    if (this.leader || !this.ctl || !this.locks) return;
    const stale = Date.now() - this.lastHb > (this.leaderHidden ? STALE_HIDDEN_MS : STALE_MS);
    if (!stale) return;
    const q = await this.locks.query();
    if (!q.held.some((l) => l.name === this.lockName)) return;
    this.lastHb = Date.now();
    this.request(true, this.ctl.signal);   // the frozen leader's lock request rejects with AbortError
  }

  stop() {
    if (!this.ctl) return;
    clearInterval(this.watch);
    this.ctl.abort();
    if (this.leadCtl) this.leadCtl.abort();
    this.ctl = null;
  }

  close() { this.stop(); this.closed = true; if (this.chan) this.chan.close(); }

  /** Runs fn while holding the per-database I/O lock: one tab pushes/pulls at a time. */
  io(fn) {
    if (!this.locks) return fn();
    return this.locks.request('idbsync:io:' + this.name, fn);
  }
}
