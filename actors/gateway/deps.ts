// What route handlers may use: the bus (under the gateway's identity), a logger, and the state paths.
import type { BusClient } from '../../bus/client.js';
import type { Logger } from '../../common/log.js';
import type { HomePaths } from '../../common/paths.js';

export interface GatewayDeps {
  bus: BusClient;
  log: Logger;
  paths: HomePaths;
  configDir: string;
}
