// The worker's side of its IPC channel, whatever it hosts: every message from the actor is checked, then dispatched.

/** How one worker kind reads and answers its actor. */
export interface WorkerMain<To, From> {
  /** Names the worker when it is started outside its actor: 'llm worker'. */
  label: string;
  /** Checks a message from the actor; throws SECAI_E_WORKER_PROTOCOL. */
  parse: (raw: unknown) => To;
  /** The answer to a message that failed the check (the worker goes on). */
  refuse: (raw: unknown, err: unknown) => From;
  /** Handles one checked message. */
  dispatch: (m: To) => void;
  /** The first message, once the worker listens. */
  started: (pid: number) => From;
}

function send(m: object): void {
  process.send?.(m);
}

/** A worker whose load failed holds nothing worth keeping: it says why and exits, once the message is out. */
function sendAndExit(m: object): void {
  send(m);
  setTimeout(() => process.exit(3), 50);
}

/** The ways a worker answers its actor, typed with its protocol. */
export function actorChannel<From extends object>(): { send: (m: From) => void; sendAndExit: (m: From) => void } {
  return { send, sendAndExit };
}

/** Serves the actor over the IPC channel until it disconnects; exits 2 when there is no channel. */
export function serveActor<To, From extends object>(w: WorkerMain<To, From>): void {
  if (!process.send) {
    process.stderr.write(`the ${w.label} runs only under its actor (IPC channel missing)\n`);
    process.exit(2);
  }
  process.on('message', (raw: unknown) => {
    let m: To;
    try {
      m = w.parse(raw);
    } catch (err) {
      send(w.refuse(raw, err));
      return;
    }
    w.dispatch(m);
  });
  process.on('disconnect', () => process.exit(0));
  send(w.started(process.pid));
}
