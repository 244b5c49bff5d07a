// A parser's refusal: a stable rule name (goes into evidence) and a sentence for the user.

export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(readonly rule: string, message: string) {
    super(message);
  }
}

export function reject(rule: string, message: string): never {
  throw new ParseError(rule, message);
}
