// A Python with pyarrow for the Parquet tests that check pyarrow reads our files:
// $PYARROW_PYTHON, the engine suite's venv, or python3; null when none has pyarrow.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function findPython() {
  const cands = [process.env.PYARROW_PYTHON, join(homedir(), '.cache', 'idbsync-engines', 'venv', 'bin', 'python3'), 'python3'];
  for (const p of cands.filter(Boolean)) {
    if (p.includes('/') && !existsSync(p)) continue;
    if (spawnSync(p, ['-c', 'import pyarrow.parquet'], { encoding: 'utf8' }).status === 0) return p;
  }
  return null;
}
