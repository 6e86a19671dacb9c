// The local copy of a synced database: idbsync's own connection to it and what the client knows
// about it (its client id, its clock, the server's conflict rule per store, each store's index
// names, the server state its cursor belongs to). apply.js, revert.js and pull.js work on this,
// never on the whole Synced handle, which owns one.
import { IdbsyncError, fromIdbError } from './errors.js';

export class Replica {
  /**
   * @param {string} name the database
   * @param {(store: string) => boolean} isSynced which stores sync
   * @param {import('./clock.js').Clock} clock stamps this tab's writes
   */
  constructor(name, isSynced, clock) {
    this.name = name;
    this.isSynced = isSynced;
    this.clock = clock;
    this.idb = null;          // idbsync's own connection (conn())
    this.opening = null;
    this.closed = false;
    this.clientId = null;     // META 'client', read at init
    this.rules = new Map();   // store -> the server's conflict rule (GET /stores)
    this.rulesAt = 0;         // when the rules were read (0: not this session)
    this.indexes = new Map(); // store -> its index names (Dexie's change signal)
    this.epoch = null;        // the server state the cursor belongs to (META 'epoch')
  }

  /**
   * idbsync's own connection to the database, opened on first use and again after it gave way to
   * a version change: its transactions never keep the app's connection busy (its close() and the
   * next open/deleteDatabase go through) and their events never reach the app's handlers.
   */
  async conn() {
    if (this.idb) return this.idb;
    if (!this.opening) {
      this.opening = openInternal(this.name).then((idb) => {
        this.opening = null;
        if (this.closed) { idb.close(); throw new IdbsyncError('closed', 'idbsync: handle is closed'); }
        const away = () => { idb.close(); if (this.idb === idb) this.idb = null; };
        idb.onversionchange = away;
        idb.onclose = away;
        this.idb = idb;
        return idb;
      }, (e) => { this.opening = null; throw e; });
    }
    return this.opening;
  }

  close() {
    this.closed = true;
    if (this.idb) { this.idb.close(); this.idb = null; }
  }

  /** The synced stores this browser has (only: limited to those). */
  stores(only = null) {
    const names = new Set();
    for (const n of this.idb.objectStoreNames) if (this.isSynced(n) && (!only || only.has(n))) names.add(n);
    return names;
  }
}

/** idbsync's own connection: the database at its current version (never created or upgraded here). */
function openInternal(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name);
    req.onupgradeneeded = () => req.transaction.abort();   // deleted meanwhile: do not create it again
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(fromIdbError(req.error, `opening ${name}`));
  });
}
