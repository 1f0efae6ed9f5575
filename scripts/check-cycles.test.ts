import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkCycles } from './check-cycles.js';

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
});
