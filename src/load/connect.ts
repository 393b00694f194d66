import type { Config } from '../config/config.js';
import { PgliteWarehouse } from './pglite/pglite-warehouse.js';
import { PostgresWarehouse } from './postgres/postgres-warehouse.js';
import type { Warehouse } from './warehouse.js';

/** Opens the configured warehouse. */
export async function openWarehouse(config: Config): Promise<Warehouse> {
  switch (config.warehouse.engine) {
    case 'pglite':
      return PgliteWarehouse.open(config.warehouse.pgliteDir);
    case 'postgres':
      return PostgresWarehouse.open(config.cluster);
    case 'redshift':
      throw new Error('not yet');
  }
}
