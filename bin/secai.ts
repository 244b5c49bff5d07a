#!/usr/bin/env node
// `secai up [--headless]` runs the appliance in the foreground; `secai status [--json]` asks it how it is.
import { commandOp } from '../bus/op-ref.js';
import { supervisorManifest } from '../actors/supervisor/manifest.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ACTOR_MANIFESTS, MANIFESTS } from '../runtime/catalog.js';
import { Supervisor } from '../actors/supervisor/supervisor.js';
import { createLogger } from '../common/log.js';
import { secaiConfigDir, secaiHome } from '../common/paths.js';
import { Exit, formatDuration, openCliSession, printError, printJson } from './cli-common.js';
import { renderStatus, type StatusReply } from './status-view.js';

const USAGE = `usage: secai up [--headless]      run the appliance in the foreground
       secai status [--json]      every actor's state, pid, restarts and uptime`;

async function up(headless: boolean): Promise<number> {
  // A closed stdout (e.g. `secai up | head -1`) must not crash the supervisor and orphan its children.
  process.stdout.on('error', () => {});
  const log = createLogger('supervisor');
  const sup = new Supervisor({ home: secaiHome(), configDir: secaiConfigDir(), manifests: MANIFESTS, headless, log, version: '0.1.0' });
  let exiting = false;
  const shutdown = (sig: string) => {
    if (exiting) return;
    exiting = true;
    void sup.stop(`signal ${sig}`).then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  try {
    const { startMs } = await sup.start();
    const http = existsSync(join(sup.paths.run, 'http.url')) ? readFileSync(join(sup.paths.run, 'http.url'), 'utf8').trim() : '';
    const where = http ? `, ${headless ? 'API' : 'web UI and API'} on ${http}` : '';
    // Only the operator sees this terminal (or, headless, this log): the code proves them to the web setup form.
    if (sup.setupCode) process.stdout.write(`secai setup code: ${sup.setupCode} (first-run setup in the web UI asks for it; also in ${join(sup.paths.run, 'setup-code')}; or run: securectl vault setup)\n`);
    process.stdout.write(`secai ready: ${ACTOR_MANIFESTS.length} actors on ${sup.url}${where}, state in ${sup.paths.home}${headless ? ', headless' : ''} (${startMs} ms)\n`);
    return -1; // keep running until a signal
  } catch (err) {
    printError(err, false);
    await sup.stop('start failed').catch((stopErr: unknown) => printError(stopErr, false));
    return Exit.ERROR;
  }
}

async function status(json: boolean): Promise<number> {
  const session = await openCliSession();
  try {
    const reply = await session.bus.callCommand(session.key, commandOp(supervisorManifest, 'status'), {});
    if (json) printJson(reply);
    else process.stdout.write(renderStatus(reply, formatDuration));
    return Exit.OK;
  } finally {
    await session.close();
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { headless: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  const json = values.json === true;
  try {
    switch (positionals[0]) {
      case 'up': return await up(values.headless === true);
      case 'status': return await status(json);
      default:
        process.stderr.write(USAGE + '\n');
        return values.help ? Exit.OK : Exit.ERROR;
    }
  } catch (err) {
    printError(err, json);
    return Exit.ERROR;
  }
}

run(process.argv.slice(2)).then((code) => { if (code >= 0) process.exit(code); }, (err) => { printError(err, false); process.exit(Exit.ERROR); });
