// What the gateway streams on /api/events: actor state snapshots and audit chain records.

export interface Snapshot { actor: string; value: unknown; status: string; event: string; seq: number; at: number; context?: Record<string, unknown> }
export interface AuditRecord { seq: number; at: number; stream: string; subject: string; sha256: string; payload: unknown; hash: string }
