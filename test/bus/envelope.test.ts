import t from 'tap';
import { keyIdOf, NonceCache, signCommand, verifyCommand, type OperatorKey, type TrustedOperator, type VerifyOptions } from '../../bus/envelope.js';
import { ErrorCode } from '../../common/errors.js';
import { getSodium } from '../../common/sodium.js';

async function operator(roles: string[]): Promise<{ key: OperatorKey; trusted: TrustedOperator }> {
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  const keyId = keyIdOf(kp.publicKey);
  return { key: { keyId, publicKey: kp.publicKey, secretKey: kp.privateKey }, trusted: { keyId, publicKey: kp.publicKey, roles, name: roles.join('+') } };
}

const SUBJECT = 'secai.cmd.audit.verify';
const NOW = 1_800_000_000_000;

function opts(trusted: TrustedOperator[], over: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    subject: SUBJECT, op: 'verify', roles: ['auditor'],
    lookup: (id) => trusted.find((x) => x.keyId === id), nonces: new NonceCache(60_000),
    now: NOW, windowMs: 60_000, notBefore: NOW - 120_000, ...over,
  };
}

t.test('envelope — a fresh envelope from a trusted admin verifies', async (t) => {
  const admin = await operator(['admin']);
  const env = await signCommand(admin.key, SUBJECT, { n: 3 }, NOW);
  const r = await verifyCommand(env, opts([admin.trusted]));
  t.same(r.args, { n: 3 });
  t.equal(r.operator.keyId, admin.key.keyId);
});

t.test('envelope — forged: signed by a key that is not trusted', async (t) => {
  const admin = await operator(['admin']);
  const mallory = await operator(['admin']);
  const env = await signCommand(mallory.key, SUBJECT, {}, NOW);
  await t.rejects(verifyCommand(env, opts([admin.trusted])), { code: ErrorCode.KEY_UNKNOWN });
  // Claiming the trusted key id does not help: the signature does not verify under that key.
  await t.rejects(verifyCommand({ ...env, keyId: admin.key.keyId }, opts([admin.trusted])), { code: ErrorCode.SIGNATURE_INVALID });
});

t.test('envelope — tampered: any change to args, subject, time or nonce breaks the signature', async (t) => {
  const admin = await operator(['admin']);
  const env = await signCommand(admin.key, SUBJECT, { n: 3 }, NOW);
  await t.rejects(verifyCommand({ ...env, args: { n: 4 } }, opts([admin.trusted])), { code: ErrorCode.SIGNATURE_INVALID });
  await t.rejects(verifyCommand({ ...env, ts: NOW - 1 }, opts([admin.trusted])), { code: ErrorCode.SIGNATURE_INVALID });
  await t.rejects(verifyCommand({ ...env, nonce: env.nonce.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, opts([admin.trusted])), { code: ErrorCode.SIGNATURE_INVALID });
  const sig = new Uint8Array(env.sig);
  sig[0]! ^= 1;
  await t.rejects(verifyCommand({ ...env, sig }, opts([admin.trusted])), { code: ErrorCode.SIGNATURE_INVALID });
  // Re-aimed at another subject: refused before the signature is even checked.
  await t.rejects(verifyCommand({ ...env, subject: 'secai.cmd.supervisor.status' }, opts([admin.trusted])), { code: ErrorCode.ENVELOPE_INVALID });
  await t.rejects(verifyCommand(env, opts([admin.trusted], { subject: 'secai.cmd.audit.tail' })), { code: ErrorCode.ENVELOPE_INVALID });
});

t.test('envelope — replayed: the same nonce is refused the second time', async (t) => {
  const admin = await operator(['admin']);
  const env = await signCommand(admin.key, SUBJECT, {}, NOW);
  const o = opts([admin.trusted]);
  await verifyCommand(env, o);
  await t.rejects(verifyCommand(env, o), { code: ErrorCode.REPLAYED });
});

t.test('envelope — a forged envelope cannot burn a real nonce', async (t) => {
  const admin = await operator(['admin']);
  const env = await signCommand(admin.key, SUBJECT, {}, NOW);
  const o = opts([admin.trusted]);
  await t.rejects(verifyCommand({ ...env, args: { evil: true } }, o), { code: ErrorCode.SIGNATURE_INVALID });
  await t.resolves(verifyCommand(env, o));
});

t.test('envelope — expired, future-dated and pre-start envelopes are refused', async (t) => {
  const admin = await operator(['admin']);
  const old = await signCommand(admin.key, SUBJECT, {}, NOW - 61_000);
  await t.rejects(verifyCommand(old, opts([admin.trusted])), { code: ErrorCode.EXPIRED });
  const future = await signCommand(admin.key, SUBJECT, {}, NOW + 30_000);
  await t.rejects(verifyCommand(future, opts([admin.trusted])), { code: ErrorCode.EXPIRED });
  const beforeStart = await signCommand(admin.key, SUBJECT, {}, NOW - 1000);
  await t.rejects(verifyCommand(beforeStart, opts([admin.trusted], { notBefore: NOW - 500 })), { code: ErrorCode.EXPIRED });
});

t.test('envelope — authorization: a key without the role is refused', async (t) => {
  const viewer = await operator(['viewer']);
  const auditor = await operator(['auditor']);
  await t.rejects(verifyCommand(await signCommand(viewer.key, SUBJECT, {}, NOW), opts([viewer.trusted])), { code: ErrorCode.UNAUTHORIZED });
  await t.resolves(verifyCommand(await signCommand(auditor.key, SUBJECT, {}, NOW), opts([auditor.trusted])));
});

t.test('envelope — malformed envelopes are schema errors', async (t) => {
  const admin = await operator(['admin']);
  const env = await signCommand(admin.key, SUBJECT, {}, NOW);
  for (const bad of [null, 'x', {}, { ...env, v: 2 }, { ...env, sig: new Uint8Array(10) }, { ...env, extra: 1 }, { ...env, keyId: '../../etc' }, { ...env, nonce: 'short' }]) {
    await t.rejects(verifyCommand(bad, opts([admin.trusted])), { code: ErrorCode.SCHEMA });
  }
});

t.test('envelope — nonce cache forgets nonces outside the window only', async (t) => {
  const c = new NonceCache(1000);
  t.ok(c.remember('a', 0));
  t.notOk(c.remember('a', 999));
  t.ok(c.remember('b', 1500));
  t.ok(c.remember('a', 2001), 'a expired from the cache after the window (the timestamp check refuses it anyway)');
});
