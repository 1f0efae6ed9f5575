import { copyFileSync, writeFileSync } from 'node:fs';
import type { PgDump } from './pg-dump.adapter.js';

/** Unit tests: records calls; a dump writes a marker file, a restore remembers what it loaded. */
export class FakePgDump implements PgDump {
  readonly calls: Array<{ op: 'dump' | 'restore'; url: string; file: string }> = [];
  restored: string | null = null;

  async dump(databaseUrl: string, file: string): Promise<void> {
    this.calls.push({ op: 'dump', url: databaseUrl, file });
    writeFileSync(file, 'PGDMP fake\n');
  }

  async restore(databaseUrl: string, file: string): Promise<void> {
    this.calls.push({ op: 'restore', url: databaseUrl, file });
    copyFileSync(file, `${file}.restored`);
    this.restored = file;
  }
}
