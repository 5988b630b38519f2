#!/usr/bin/env node
// Pushes a .wasm file to an OCI registry as a wasm artifact (CNCF wasm-oci layout: config
// application/vnd.wasm.config.v0+json, one application/wasm layer), over the registry's HTTP API, so a
// `cutover host` can fetch it. No tools needed beyond Node 20; `oras push` or `wash push` do the same.
//
//   node examples/hello/push.mjs localhost:5000/hello:v1 examples/hello/v1.wasm
//
// Loopback registries (localhost, 127.0.0.1) are spoken to over http, like the host does; others over https.
// Set REGISTRY_AUTH to a full Authorization header value (e.g. "Basic dXNlcjpwYXNz") if the registry needs one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [ref, file] = process.argv.slice(2);
const match = /^([^/]+)\/(.+):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(ref ?? '');
if (!match || !file) {
  process.stderr.write('usage: node push.mjs REGISTRY/REPOSITORY:TAG FILE.wasm\n');
  process.exit(2);
}
const [, registry, repository, tag] = match;
const loopback = /^(localhost|127(\.\d{1,3}){3})(:\d+)?$/.test(registry);
const base = `${loopback ? 'http' : 'https'}://${registry}`;
const headers = process.env.REGISTRY_AUTH ? { authorization: process.env.REGISTRY_AUTH } : {};
const digestOf = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function uploadBlob(bytes) {
  const digest = digestOf(bytes);
  const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`blob upload start: HTTP ${start.status}`);
  const target = new URL(location, base);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`blob upload of ${digest}: HTTP ${put.status}`);
  return digest;
}

try {
  const wasm = readFileSync(file);
  const config = Buffer.from(JSON.stringify({ architecture: 'wasm', os: 'wasip1', layerDigests: [digestOf(wasm)] }));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.wasm.config.v0+json', digest: await uploadBlob(config), size: config.length },
    layers: [{ mediaType: 'application/wasm', digest: await uploadBlob(wasm), size: wasm.length }],
  });
  const put = await fetch(`${base}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`manifest put: HTTP ${put.status} ${await put.text()}`);
  await put.body?.cancel();
  process.stdout.write(`pushed ${registry}/${repository}:${tag}@${digestOf(Buffer.from(manifest))}\n`);
} catch (error) {
  process.stderr.write(`push failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
