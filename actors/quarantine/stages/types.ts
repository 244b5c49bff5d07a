// The contract every quarantine stage implements: a verdict with evidence, never an uncaught throw.
// The data types are the pipeline machine's own (machines import nothing from actors/, so they live there).
import type { PipelineArtifact, StageName } from '../../../machines/quarantine/quarantine.machine.js';

export type { StageName, StageResult, Verdict } from '../../../machines/quarantine/quarantine.machine.js';
import type { StageResult } from '../../../machines/quarantine/quarantine.machine.js';

export const STAGES = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion'] as const satisfies readonly StageName[];

export type ArtifactOrigin = PipelineArtifact['origin'];

/**
 * What is being judged: one file, or one diffusers folder. `path` is inside quarantine/work (a
 * private copy, not the user's file); `name` is what the user gave it; `size` sums a folder's files.
 */
export type Artifact = PipelineArtifact;

/** Long stages report progress in percent (0–100); the actor turns it into secai.evt.quarantine.stage. */
export type Progress = (percent: number, note?: string) => void;

export type StageRunner<O = unknown> = (artifact: Artifact, options: O, progress: Progress) => Promise<StageResult>;
