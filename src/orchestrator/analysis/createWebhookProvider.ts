import { z } from 'zod';
import { CutoverError, isCutoverError } from '../../errors';
import type { AnalysisContext, AnalysisProvider, MeasureResult } from '../../ports/analysis';
import type { Clock } from '../../ports/clock';
import { clockTimeout } from './clockTimeout';

/** Options of {@link createWebhookProvider}. */
export interface WebhookProviderOptions {
  /** The fetch to use; defaults to the global one. */
  fetch?: typeof globalThis.fetch;
  /** The clock `timeoutMs` runs on (the orchestrator's); defaults to wall time. */
  clock?: Clock;
}

const Reply = z.union([z.object({ value: z.number() }), z.object({ noData: z.literal(true) })]);

/** What the webhook receives, as JSON. */
export interface WebhookRequest {
  app: string;
  revision: string;
  hash: string;
  hashes: string[];
  metric: string;
  analysis: string | null;
  hosts: string[];
}

/**
 * An analysis provider that POSTs the measurement context as JSON to `spec.webhook.url` and expects
 * `{ "value": number }` or `{ "noData": true }` within `spec.webhook.timeoutMs`. A non-2xx status,
 * a reply that is not such JSON, or no reply in time rejects (`analysis.failed` / `timeout`).
 * @example
 * const provider = createWebhookProvider();
 * await provider.measure({ app, revision, hash, hosts, metric: 'value', spec })
 */
export function createWebhookProvider(options: WebhookProviderOptions = {}): AnalysisProvider {
  const doFetch = options.fetch ?? globalThis.fetch;
  return {
    async measure(ctx: AnalysisContext): Promise<MeasureResult> {
      const hook = ctx.spec.webhook;
      if (hook === undefined) {
        throw new CutoverError('plan.invalid', `analysis "${ctx.spec.name ?? ctx.metric}" has no webhook url`);
      }
      const url = hook.url;
      const timer = clockTimeout(options.clock, hook.timeoutMs);
      const timeout = timer.signal;
      const signal = ctx.signal === undefined ? timeout : AbortSignal.any([ctx.signal, timeout]);
      const body: WebhookRequest = {
        app: ctx.app,
        revision: ctx.revision,
        hash: ctx.hash,
        hashes: [...(ctx.hashes ?? [ctx.hash])],
        metric: ctx.metric,
        analysis: ctx.spec.name ?? null,
        hosts: ctx.hosts.map((h) => h.hostId),
      };
      let text: string;
      let status: number;
      try {
        const res = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...hook.headers },
          body: JSON.stringify(body),
          signal,
        });
        status = res.status;
        text = await res.text();
        if (!res.ok) {
          throw new CutoverError('analysis.failed', `webhook "${url}" answered ${status}${excerpt(text)}`);
        }
      } catch (e) {
        if (isCutoverError(e)) throw e;
        if (timeout.aborted) {
          throw new CutoverError('timeout', `webhook "${url}" did not answer within ${hook.timeoutMs} ms`, {
            cause: e,
          });
        }
        if (ctx.signal?.aborted) throw new CutoverError('aborted', `webhook "${url}" call was cancelled`, { cause: e });
        const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
        throw new CutoverError('analysis.failed', `webhook "${url}" failed: ${why}`, { cause: e });
      } finally {
        timer.cancel();
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new CutoverError(
          'analysis.failed',
          `webhook "${url}" answered ${status} with invalid json${excerpt(text)}`,
          {
            cause: e,
          },
        );
      }
      const parsed = Reply.safeParse(json);
      if (!parsed.success) {
        throw new CutoverError(
          'analysis.failed',
          `webhook "${url}" answered without a numeric "value" or "noData": true${excerpt(text)}`,
        );
      }
      return 'value' in parsed.data ? { value: parsed.data.value } : { noData: true };
    },
  };
}

function excerpt(text: string): string {
  const t = text.trim();
  if (t === '') return '';
  return `: "${t.length > 120 ? `${t.slice(0, 120)}…` : t}"`;
}
