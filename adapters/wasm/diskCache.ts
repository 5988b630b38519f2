import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Digest } from './digest';

const pathOf = (dir: string, digest: string) => join(dir, 'blobs', ...digest.split(':'));

/** Reads a verified blob from `cacheDir`; a missing or corrupt file is a miss. */
export async function readDiskCache(dir: string, digest: string): Promise<Uint8Array | undefined> {
  try {
    const bytes = new Uint8Array(await readFile(pathOf(dir, digest)));
    return sha256Digest(bytes) === digest ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a verified blob to `cacheDir` atomically (write then rename), so readers never see half a file. */
export async function writeDiskCache(dir: string, digest: string, bytes: Uint8Array): Promise<void> {
  const path = pathOf(dir, digest);
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}
