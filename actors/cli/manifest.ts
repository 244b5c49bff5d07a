// The identity of securectl and `secai status`: it may send signed commands, and nothing else.
import { defineManifest } from '../../bus/manifest.js';

export const cliManifest = defineManifest({
  name: 'cli',
  kind: 'client',
  description: 'Operator commands from securectl; every one is a signed envelope checked by its receiver.',
  serves: {},
  commands: {},
  publishes: {},
  requests: [],
  // securectl models import draws its progress bar from the quarantine's stage and verdict events.
  subscribes: ['quarantine.stage', 'quarantine.verdict'],
  sends: ['*.*'],
});
