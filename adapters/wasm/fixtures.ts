import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FIXTURE_MODULES_BASE64 } from './fixtureModules';

/** Names of the bundled demo modules: `handle` replies "v1:" / "v2:" / "v3:" + payload. */
export type FixtureModuleName = keyof typeof FIXTURE_MODULES_BASE64;

/** The bundled demo core modules (a few hundred bytes each, built from test/fixtures/wasm/*.wat). */
export function fixtureModule(name: FixtureModuleName): Uint8Array {
  return new Uint8Array(Buffer.from(FIXTURE_MODULES_BASE64[name], 'base64'));
}

/** All bundled demo modules by name. */
export function fixtureModules(): Record<FixtureModuleName, Uint8Array> {
  return { v1: fixtureModule('v1'), v2: fixtureModule('v2'), v3: fixtureModule('v3') };
}

/**
 * Writes the demo modules to a directory (a fresh temp dir by default) and returns `file://` refs to them.
 * @example
 * const refs = await writeFixtureModules(); // { v1: 'file:///tmp/cutover-wasm-x/v1.wasm', … }
 */
export async function writeFixtureModules(dir?: string): Promise<Record<FixtureModuleName, string>> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'cutover-wasm-')));
  const out = {} as Record<FixtureModuleName, string>;
  for (const [name, bytes] of Object.entries(fixtureModules()) as [FixtureModuleName, Uint8Array][]) {
    const path = join(target, `${name}.wasm`);
    await writeFile(path, bytes);
    out[name] = pathToFileURL(path).href;
  }
  return out;
}
