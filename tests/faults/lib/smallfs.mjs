// A small filesystem for disk-full tests: tmpfs (mount -t tmpfs -o size=...) or an ext4 image
// on a loop device. Needs root and a sandbox that permits mount(2); otherwise returns the reason
// so the test can skip with it (and a CI machine that allows it runs the test).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../lib/server.mjs';

function run(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (e) {
    return `${cmd} ${args.join(' ')}: ${(e.stderr?.toString() || e.message).trim()}`;
  }
}

/**
 * Mounts a small filesystem of `kind` ('tmpfs' | 'ext4') and `sizeMb` megabytes.
 * Returns {dir, kind, unmount()} or {skip: '<precise reason>'}. unmount() is idempotent
 * and falls back to a lazy unmount when something still holds the mount busy.
 */
export function mountSmallFs(kind, sizeMb) {
  if (process.platform !== 'linux') return { skip: `needs Linux mount(2), platform is ${process.platform}` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { skip: `needs root to mount a ${kind} filesystem (uid ${process.getuid()})` };
  }
  const root = tempDir(`idbsync-fault-${kind}-`);
  const dir = path.join(root, 'mnt');
  fs.mkdirSync(dir);
  let image = null;
  let err;
  if (kind === 'tmpfs') {
    err = run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  } else if (kind === 'ext4') {
    image = path.join(root, 'fs.img');
    fs.closeSync(fs.openSync(image, 'w'));
    fs.truncateSync(image, sizeMb * 1024 * 1024);
    err = run('mkfs.ext4', ['-q', '-F', '-m', '0', image]) || run('mount', ['-o', 'loop', image, dir]);
  } else {
    throw new Error(`unknown kind ${kind}`);
  }
  if (err) return { skip: `cannot mount a ${sizeMb} MB ${kind} here: ${err}` };
  let mounted = true;
  return {
    dir,
    kind,
    unmount() {
      if (!mounted) return;
      if (run('umount', [dir])) {
        const e = run('umount', ['-l', dir]);
        if (e) throw new Error(`cannot unmount ${dir}: ${e}`);
      }
      mounted = false;
      if (image) fs.rmSync(image, { force: true });
    },
  };
}

/**
 * For a test: mounts a small filesystem, or skips t (printing why, as `# name skipped: ...`)
 * and returns null. Returns {fsm, dataDir, filler, srv}: set srv to the test's server, which is
 * then killed before the unmount when t ends.
 */
export function smallFsForTest(t, kind, sizeMb, name) {
  const fsm = mountSmallFs(kind, sizeMb);
  if (fsm.skip) {
    console.log(`# ${name} skipped: ${fsm.skip}`);
    t.skip(fsm.skip);
    return null;
  }
  const h = { fsm, dataDir: path.join(fsm.dir, 'data'), filler: path.join(fsm.dir, 'filler'), srv: null };
  t.after(async () => {
    if (h.srv) await h.srv.kill9();
    fsm.unmount();
  });
  return h;
}

/** Bytes available to unprivileged writers on the filesystem holding dir. */
export function availBytes(dir) {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Writes a file of about `bytes` (in 1 MiB chunks; stops quietly at ENOSPC). Returns bytes written. */
export function writeFiller(file, bytes) {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  let done = 0;
  try {
    while (done < bytes) {
      const n = Math.min(chunk.length, bytes - done);
      try {
        done += fs.writeSync(fd, chunk, 0, n);
      } catch (e) {
        if (e.code === 'ENOSPC') break;
        throw e;
      }
    }
    try { fs.fsyncSync(fd); } catch (e) { if (e.code !== 'ENOSPC') throw e; }
  } finally {
    fs.closeSync(fd);
  }
  return done;
}
