import { CutoverError } from 'cutover';

/** A parsed OCI image reference. */
export interface OciRef {
  readonly kind: 'oci';
  /** Registry as written (`ghcr.io`, `127.0.0.1:5000`), before mirrors. */
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** A parsed `file://` reference (absolute, or relative to the runtime's baseDir). */
export interface FileRef {
  readonly kind: 'file';
  readonly path: string;
  readonly relative: boolean;
}

export type ImageRef = OciRef | FileRef;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const REPO = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Parses `file:///abs`, `file://./rel`, `oci://host[:port]/repo[:tag|@sha256:…]` and the wadm form
 * `host/repo:tag` (a first segment without `.`/`:` and not `localhost` means Docker Hub, as docker does).
 */
export function parseImageRef(ref: string): ImageRef {
  if (ref.startsWith('file://')) {
    const rest = ref.slice('file://'.length);
    if (rest.startsWith('/')) return { kind: 'file', path: decodeURIComponent(rest), relative: false };
    if (rest.length === 0) throw invalid(ref, 'empty path');
    return { kind: 'file', path: decodeURIComponent(rest), relative: true };
  }
  let rest = ref.startsWith('oci://') ? ref.slice('oci://'.length) : ref;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) throw invalid(ref, 'unsupported scheme');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref, 'digest must be sha256:<64 hex>');
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const explicitRegistry = first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
  let registry = explicitRegistry ? first : 'docker.io';
  let path = explicitRegistry ? rest.slice(slash + 1) : rest;
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, `bad tag "${tag}"`);
  }
  if (registry === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!REPO.test(path)) throw invalid(ref, `bad repository "${path}"`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  registry = registry.toLowerCase();
  return {
    kind: 'oci',
    registry,
    repository: path,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

function invalid(ref: string, why: string): CutoverError {
  return new CutoverError('spec.invalid', `invalid image reference "${ref}": ${why}`);
}
