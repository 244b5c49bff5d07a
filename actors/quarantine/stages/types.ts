// The contract every quarantine stage implements: a verdict with evidence, never an uncaught throw.

export const STAGES = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion'] as const;
export type StageName = (typeof STAGES)[number];

export type Verdict = 'pass' | 'warn' | 'fail' | 'error';

export interface StageResult {
  stage: StageName;
  verdict: Verdict;
  /** One sentence a user can read: why this verdict. */
  reason: string;
  /** Inputs, the rule that fired, hashes, measurements: goes to the report and the audit chain. */
  evidence: Record<string, unknown>;
  durationMs: number;
}

export type ArtifactOrigin = { type: 'local' } | { type: 'url'; url: string };

/** What is being judged: one file, or one diffusers folder. */
export interface Artifact {
  /** Absolute path inside quarantine/work (a private copy, not the user's file). */
  path: string;
  kind: 'file' | 'folder';
  /** The name the user gave it (file or folder name, or the URL's last segment). */
  name: string;
  origin: ArtifactOrigin;
  /** Total bytes (sum of files for a folder). */
  size: number;
}

/** Long stages report progress in percent (0–100); the actor turns it into secai.evt.quarantine.stage. */
export type Progress = (percent: number, note?: string) => void;

export type StageRunner<O = unknown> = (artifact: Artifact, options: O, progress: Progress) => Promise<StageResult>;
