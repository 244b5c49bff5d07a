// The inference actor's own life: the model-host machine (sealed, or UNSANDBOXED in development mode).
import { modelHostMachine } from '../model-host/model-host.machine.js';

export const inferenceMachine = modelHostMachine('inference');
