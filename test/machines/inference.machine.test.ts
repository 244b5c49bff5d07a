import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { inferenceMachine } from '../../machines/inference/inference.machine.js';

t.test('inference machine — sealed until a worker runs unsandboxed or bubblewrap is missing, then says so in its state', async (t) => {
  const [s0] = initialTransition(inferenceMachine);
  t.equal(s0.value, 'sealed');
  const [s1] = transition(inferenceMachine, s0, { type: 'models.changed', loaded: 1, unsandboxed: 0, sandboxAvailable: true });
  t.equal(s1.value, 'sealed');
  const [s2] = transition(inferenceMachine, s1, { type: 'models.changed', loaded: 1, unsandboxed: 1, sandboxAvailable: false });
  t.equal(s2.value, 'unsandboxed');
  const [s3] = transition(inferenceMachine, s2, { type: 'models.changed', loaded: 0, unsandboxed: 0, sandboxAvailable: false });
  t.equal(s3.value, 'unsandboxed', 'no sandbox on this machine is itself worth showing');
  const [s4] = transition(inferenceMachine, s3, { type: 'models.changed', loaded: 0, unsandboxed: 0, sandboxAvailable: true });
  t.equal(s4.value, 'sealed');
});
