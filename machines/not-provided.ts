// Placeholders for a machine's effects: a machine declares them, the actor provides them.

export function notProvided(name: string): () => never {
  return () => {
    throw new Error(`effect '${name}' was not provided: machines declare effects, actors provide them`);
  };
}
