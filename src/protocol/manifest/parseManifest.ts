// The manifest reader's entry point: YAML or JSON text to a checked document, trait properties checked
// against their schemas (even when the outer shape has problems, so one pass names them all), then the
// build that walks the parts in a fixed order — metadata, names and ids, components with their link
// traits, link merging, revision assembly — so issues and warnings always come out in document order.
// It owns that order and nothing else: every rule lives in the part that it names.
import { parseDocument } from 'yaml';
import type { Issue } from '../../errors';
import type { AppRevision } from '../spec';
import { type CheckedTraits, readComponents } from './components';
import { createBuildContext } from './context';
import { type PathPart, createFindings, fail, zodIssues } from './findings';
import { checkManifestLimits } from './limits';
import { createLinkDrafts } from './links';
import { assembleRevision } from './revision';
import { checkMetadata } from './rules';
import { WadmLinkProperty, WadmManifest, WadmScalerProperty } from './schema';

/** What {@link parseManifest} returns: the revision and every warning (each `path: message`). */
export interface ParsedManifest {
  revision: AppRevision;
  warnings: string[];
}

function readDocument(text: string): unknown {
  // JSON is YAML 1.2, so one parser takes both and reports positions for either.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    fail(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `;
        const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '').trim();
        return { path: '(root)', message: `${where}${first.toLowerCase() || 'yaml syntax error'}` };
      }),
    );
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/** Checks the properties of every link and scaler trait in the raw document, adding problems to `issues`. */
function checkTraits(raw: unknown, issues: Issue[]): CheckedTraits {
  const links = new Map<string, WadmLinkProperty>();
  const scalers = new Map<string, WadmScalerProperty>();
  const rawComponents = (raw as { spec?: { components?: unknown } } | null)?.spec?.components;
  if (Array.isArray(rawComponents)) {
    rawComponents.forEach((c: unknown, ci) => {
      const traits = (c as { traits?: unknown } | null)?.traits;
      if (!Array.isArray(traits)) return;
      traits.forEach((t: unknown, ti) => {
        const type = (t as { type?: unknown } | null)?.type;
        const props = (t as { properties?: unknown } | null)?.properties;
        const path: PathPart[] = ['spec', 'components', ci, 'traits', ti, 'properties'];
        if (type === 'link') {
          const r = WadmLinkProperty.safeParse(props);
          if (r.success) links.set(`${ci}/${ti}`, r.data);
          else issues.push(...zodIssues(r.error, path));
        } else if (type === 'spreadscaler' || type === 'daemonscaler') {
          const r = WadmScalerProperty.safeParse(props);
          if (r.success) scalers.set(`${ci}/${ti}`, r.data);
          else issues.push(...zodIssues(r.error, path));
        }
      });
    });
  }
  return { links, scalers };
}

/**
 * Reads a wadm (OAM) manifest — YAML or JSON — applying wadm's own validation rules, and maps it to
 * an {@link AppRevision}. Every problem found is reported at once as `manifest.invalid` with
 * `issues: { path, message }[]`; things wadm only warns about come back in `warnings`. Text over
 * `MANIFEST_LIMITS` (bytes, keys, depth) is refused with `message.tooLarge` before it is parsed.
 * @example
 * const { revision, warnings } = parseManifest(readFileSync('wadm.yaml', 'utf8'));
 */
export function parseManifest(text: string): ParsedManifest {
  checkManifestLimits(text);
  const raw = readDocument(text);
  const shape = WadmManifest.safeParse(raw);
  const issues: Issue[] = shape.success ? [] : zodIssues(shape.error, []);
  const traits = checkTraits(raw, issues);
  if (!shape.success || issues.length > 0) fail(issues);
  return build(shape.data, traits);
}

function build(manifest: WadmManifest, traits: CheckedTraits): ParsedManifest {
  const findings = createFindings();
  checkMetadata(manifest, findings);
  // Names and ids first: links resolve against them.
  const ctx = createBuildContext(manifest, findings);
  const linkDrafts = createLinkDrafts(ctx);
  const { components, providers } = readComponents(ctx, traits, linkDrafts);
  const links = linkDrafts.merge();
  if (findings.issues.length > 0) fail(findings.issues);
  return { revision: assembleRevision(ctx, components, providers, links), warnings: findings.warnings };
}
