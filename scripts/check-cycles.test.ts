import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkCycles, checkLayers } from './check-cycles.js';

describe('check-cycles', () => {
  let dir: string;
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ggnet-cycles-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a cycle through type imports, re-exports and folders as a path', () => {
    write('src/a.ts', "import { b } from './b.js';\nexport const a = b;\n");
    write('src/b.ts', "export { c as b } from './lib/index.js';\n");
    write('src/lib/index.ts', "import type { A } from '../a.js';\nexport const c = 1 as unknown as A;\n");
    write('src/ok.ts', "import { a } from './a.js';\nimport 'node:fs';\nimport { z } from 'zod';\n");
    expect(checkCycles(['src'], dir)).toEqual([['src/a.ts', 'src/b.ts', 'src/lib/index.ts', 'src/a.ts']]);
  });

  it('passes a one-way graph and reports each cycle group once', () => {
    write('src/a.ts', "import './b.js';\n");
    write('src/b.ts', "import './c.tsx';\n");
    write('src/c.tsx', 'export {};\n');
    expect(checkCycles(['src'], dir)).toEqual([]);
    write('src/c.tsx', "import './a.js';\n");
    write('src/d.ts', "import './d.js';\n");
    const cycles = checkCycles(['src'], dir);
    expect(cycles).toHaveLength(2);
    expect(cycles).toContainEqual(['src/d.ts', 'src/d.ts']);
    expect(cycles).toContainEqual(['src/a.ts', 'src/b.ts', 'src/c.tsx', 'src/a.ts']);
  });

  it('holds module folders to their layers: down is fine, sideways and up are not', () => {
    const layers = { low: 0, side: 0, high: 1 };
    write('m/high/a.ts', "import '../low/b.js';\nimport '../other/c.js';\n");
    write('m/low/b.ts', "import '../other/c.js';\nimport './d.js';\n");
    write('m/low/d.ts', 'export {};\n');
    write('m/other/c.ts', "import '../high/a.js';\n");
    write('m/side/e.ts', 'export {};\n');
    expect(checkLayers('m', dir, layers)).toEqual([]);
    write('m/low/d.ts', "import type { X } from '../high/a.js';\nimport '../side/e.js';\n");
    expect(checkLayers('m', dir, layers).sort()).toEqual([
      'm/low/d.ts -> m/high/a.ts (low may not import high)',
      'm/low/d.ts -> m/side/e.ts (low may not import side)',
    ]);
  });
});
