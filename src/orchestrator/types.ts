/**
 * The orchestrator's public types: its options, the `Orchestrator` API it returns, and the plain views it
 * hands out (`RolloutView`, `RolloutHandle`, `AppStatus`). Types only: no behaviour lives here, and nothing
 * here may import a runtime part of the orchestrator (they import these types, not the other way round).
 */
import type { InspectionEvent, Observer } from 'xstate';
import type { CutoverError } from '../errors';
import type { AnalysisProvider } from '../ports/analysis';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { Transport } from '../ports/transport';
import type { RolloutOutput } from '../protocol/rollout';
import type { AppRevision, AppRevisionInput } from '../protocol/spec';
import type { AnalysisProviderName } from '../protocol/strategies';
import type { StrategyInput } from '../protocol/strategy';
import type { Notify } from '../observability/notifications';
import type { AppRecord, HistoryEntry } from './records';
import type { AppStatus as AppStatusOutput, RolloutView as RolloutViewOutput } from './viewSchemas';

/** Options of {@link createOrchestrator}. */
export interface OrchestratorOptions {
  lattice: string;
  transport: Transport;
  store: StateStore;
  clock?: Clock;
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** How often verification re-queries inventories when no report arrives, and the scaler period (ms). */
  heartbeatMs?: number;
  /** Lease time-to-live per app (ms); renewed at a third of it. */
  leaseTtlMs?: number;
  /**
   * Nothing is sent to a host unless the app's lease has more than this left on this orchestrator's clock (ms);
   * default a third of the TTL. Covers clock drift and a renewal in flight.
   */
  leaseSafetyMs?: number;
  /** How long `close()` waits for a rollout's last snapshot to be stored before it gives up and says so (ms). Default 5,000. */
  closeTimeoutMs?: number;
  /** This orchestrator's name as a lease holder (default: random). */
  holder?: string;
  /** Pins an image reference to a digest at plan time, so a rollback is exact. */
  resolveImage?: (ref: string) => Promise<string | undefined>;
  /** Revisions kept in history per app (the stable one is never dropped). Default 10. */
  revisionHistoryLimit?: number;
  /** Bound of every request to a host (ms, real time of the transport). Default 5,000. */
  requestTimeoutMs?: number;
  /** Run per-app scalers (default true). */
  scalers?: boolean;
  /** Problems the orchestrator found on its own (e.g. `snapshot.invalid` at start). */
  onProblem?: (error: CutoverError) => void;
  /**
   * How often (ms) to look for unfinished rollouts nobody drives (their app's lease expired or was released,
   * e.g. another orchestrator died) and take them over; 0 turns it off. Default half the lease TTL.
   */
  takeoverMs?: number;
  /**
   * Analysis providers by name, merged over the built-ins (`errorRate`, `latencyP99`, and a `webhook` provider
   * whose timeout runs on `clock`): e.g. `{ webhook: createWebhookProvider({ fetch: myFetch, clock }) }`.
   */
  analysisProviders?: Partial<Record<AnalysisProviderName, AnalysisProvider>>;
  /** Called with each rollout this orchestrator resumes, at start or by taking it over. */
  onResume?: (rolloutId: string, app: string) => void;
  /**
   * Told every phase change, pause, resume, analysis verdict and outcome of the rollouts driven here (schema:
   * `NotificationEvent`); never awaited, so a slow one cannot slow a rollout. E.g. `createWebhookNotifier({ url })`.
   */
  notify?: Notify;
}

/** A JSON-friendly view of a rollout (schema: `RolloutView` in viewSchemas.ts). */
export type RolloutView = RolloutViewOutput;

/** A started rollout. */
export interface RolloutHandle {
  readonly id: string;
  snapshot(): RolloutView;
  /** Called on every change of state; returns an unsubscribe function. */
  subscribe(fn: (view: RolloutView) => void): () => void;
  /** Resolves with the outcome once the rollout is final (never rejects). */
  readonly done: Promise<RolloutOutput>;
}

/** What `status(app)` reports (schema: `AppStatus` in viewSchemas.ts). */
export type AppStatus = AppStatusOutput;

/** One app as `list` shows it. */
export interface AppSummary {
  app: string;
  phase: AppRecord['phase'];
  stableVersion: string | null;
  targetVersion: string;
  rolloutId: string;
  /** When its phase last changed (ms since the epoch). */
  at: number;
}

/** What deleting an app did. */
export interface DeleteResult {
  app: string;
  /** Delete commands sent to hosts. */
  sent: number;
  /** Store records removed. */
  records: number;
}

/** Options of a deploy or a retry. */
export interface DeployOptions {
  strategy?: StrategyInput;
}

/** The orchestrator API (docs/architecture.md); everything it returns is plain JSON-friendly data. */
export interface Orchestrator extends AsyncDisposable {
  readonly lattice: string;
  /** This orchestrator's name as a lease holder. */
  readonly holder: string;
  /**
   * The orchestrator that drives an app (or the app of a rollout) now: the holder of its live lease, or
   * null when nobody holds it. The API forwards requests to it.
   */
  owner(of: { app: string } | { rolloutId: string }): Promise<string | null>;
  deploy(manifest: string | AppRevisionInput, options?: DeployOptions): Promise<RolloutHandle>;
  pause(app: string): Promise<RolloutView>;
  resume(app: string): Promise<RolloutView>;
  promote(app: string, options?: { full?: boolean }): Promise<RolloutView>;
  abort(app: string, reason?: string): Promise<RolloutView>;
  /** Starts the last rollout's target again as a new rollout linked to it. */
  retry(app: string, options?: DeployOptions): Promise<RolloutHandle>;
  /** Goes straight back to stable (or `toRevision` from history), skipping pauses and analysis. */
  undo(app: string, toRevision?: string): Promise<RolloutHandle>;
  status(app: string): Promise<AppStatus>;
  history(app: string): Promise<HistoryEntry[]>;
  /** A rollout this orchestrator drives, by id. */
  rollout(id: string): RolloutHandle | undefined;
  /** Any rollout by id as last stored (driven here or not, e.g. finished before a restart), with its output once final. */
  lookup(id: string): Promise<{ rollout: RolloutView; output: RolloutOutput | null } | undefined>;
  /** One scaler pass for an app now (it also runs every `heartbeatMs`). */
  reconcile(app: string): Promise<void>;
  /** Every app deployed on the lattice, by name, with its phase and versions. */
  list(): Promise<AppSummary[]>;
  /** A stored revision of an app (its stable one without `version`), images as pinned. */
  revision(app: string, version?: string): Promise<AppRevision>;
  /** Undeploys an app from every host and forgets it (refused while a rollout of it runs). */
  delete(app: string): Promise<DeleteResult>;
  /** Problems found on start, such as `snapshot.invalid` records left untouched. */
  readonly problems: readonly CutoverError[];
  /** Writes done and largest snapshot written, for benchmarks. */
  readonly stats: { snapshotWrites: number; largestSnapshotBytes: number };
  close(): Promise<void>;
}
