// Our nkeys on node:crypto must be the very keys @nats-io/nkeys derives (the server checks them) and refuse the rest.
import t from 'tap';
import { createAccount, createUser, fromPublic, fromSeed } from '@nats-io/nkeys';
import { createUserSeed, nkeyAuth, userNkeyFromSeed } from '../../bus/nkey.js';

t.test('public keys and signatures match @nats-io/nkeys for library-made and our own seeds', async (t) => {
  const seeds = [...Array.from({ length: 8 }, () => createUser().getSeed()), ...Array.from({ length: 8 }, createUserSeed)];
  for (const seed of seeds) {
    const ours = userNkeyFromSeed(seed);
    const theirs = fromSeed(seed);
    t.equal(ours.publicKey, theirs.getPublicKey());
    const data = new TextEncoder().encode(`nonce-${ours.publicKey}`);
    t.same([...ours.sign(data)], [...theirs.sign(data)], 'Ed25519 is deterministic: the same signature');
    t.ok(fromPublic(ours.publicKey).verify(data, ours.sign(data)));
    t.notOk(fromPublic(ours.publicKey).verify(new TextEncoder().encode('other'), ours.sign(data)));
  }
});

t.test('the authenticator signs the nonce the way the server verifies it', async (t) => {
  const seed = createUserSeed();
  const auth = nkeyAuth(userNkeyFromSeed(seed))('a-server-nonce');
  const kp = fromSeed(seed);
  t.equal(auth.nkey, kp.getPublicKey());
  t.ok(fromPublic(auth.nkey).verify(new TextEncoder().encode('a-server-nonce'), Buffer.from(auth.sig, 'base64url')));
  t.equal(nkeyAuth(userNkeyFromSeed(seed))().sig, '', 'no nonce, no signature');
});

t.test('anything but a well-formed user seed is refused', async (t) => {
  const good = createUserSeed();
  const flipped = Uint8Array.from(good);
  flipped[10] = flipped[10] === 65 ? 66 : 65;
  for (const [what, seed] of [
    ['an account seed', createAccount().getSeed()],
    ['a public key', new TextEncoder().encode(createUser().getPublicKey())],
    ['a changed character (CRC)', flipped],
    ['empty', new Uint8Array()],
    ['garbage', new TextEncoder().encode('SU-not-base32-!!')],
  ] as const) {
    t.throws(() => userNkeyFromSeed(seed), { code: 'SECAI_E_PERMISSION' }, what);
  }
});
