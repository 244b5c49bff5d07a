// `--import` this after tsx: installs hooks.mjs so the process builds its manifests with the untyped builders.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
