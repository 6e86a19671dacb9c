// Types for client/react.js (import { useSyncStatus } from 'idbsync/react').
import type { Synced, SyncStatus } from './idbsync.js';

/**
 * The handle's status, re-rendering the component on every `status` event (null while s is
 * null/undefined). React is not imported by idbsync: pass it (18 or later), or globalThis.React is used.
 */
export declare function useSyncStatus(s: Synced | null | undefined, React?: { useSyncExternalStore: Function }): SyncStatus | null;
