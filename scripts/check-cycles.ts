/**
 * Fails (exit 1) when TypeScript sources import each other in a cycle, printing each cycle as a path.
 * Reads only the import/export specifiers (ts.preProcessFile, no type checking) and resolves the
 * relative ones (`./x.js` -> `x.ts`, `x.tsx`, `x/index.ts`), so it runs in about a second.
 * It also holds the server's disk path to its layers (LAYERS below, docs/ARCHITECTURE.md): a module
 * folder imports only folders of a lower layer. Run by `npm run lint`; `tsx scripts/check-cycles.ts
 * [dir...]` checks other roots.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const DEFAULT_ROOTS = ['apps/server/src', 'apps/web/src', 'packages/contracts/src', 'bench', 'e2e'];

/**
 * The disk path of apps/server/src/modules, bottom up: each folder may import only folders of a lower
 * rank (folders of one rank know nothing of each other). Other modules are not ranked here.
 */
export const LAYERS: Record<string, number> = {
  writebacks: 0,
  'boot-events': 0,
  traffic: 0,
  targets: 1,
  sessions: 2,
  reconcile: 3,
  boot: 4,
};
export const MODULES_DIR = 'apps/server/src/modules';

const SOURCE = /\.(ts|tsx|mts|cts)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'coverage']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!SKIP_DIRS.has(name)) sourceFiles(p, out);
    } else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The file a relative specifier names, or null (packages, missing files, non-source assets). */
function resolveRelative(from: string, spec: string): string | null {
  if (!spec.startsWith('./') && !spec.startsWith('../')) return null;
  const base = resolve(dirname(from), spec);
  const stem = base.replace(/\.(m|c)?jsx?$/, '');
  const candidates = [
    base,
    `${stem}.ts`,
    `${stem}.tsx`,
    `${stem}.mts`,
    join(base, 'index.ts'),
    join(base, 'index.tsx'),
  ];
  for (const c of candidates) if (SOURCE.test(c) && existsSync(c) && statSync(c).isFile()) return c;
  return null;
}

/** Every file's relative imports (static imports, re-exports, `import()`, `import type`). */
export function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
    const deps = new Set<string>();
    for (const i of info.importedFiles) {
      const to = resolveRelative(f, i.fileName);
      if (to) deps.add(to);
    }
    graph.set(f, [...deps]);
  }
  return graph;
}

/** One cycle (as a path that ends where it starts) for every strongly connected group of files. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components, iterative (deep import chains must not overflow the stack)
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: string[][] = [];
  for (const start of graph.keys()) {
    if (idx.has(start)) continue;
    const work: Array<{ v: string; i: number }> = [{ v: start, i: 0 }];
    idx.set(start, index);
    low.set(start, index++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const top = work[work.length - 1]!;
      const deps = graph.get(top.v) ?? [];
      if (top.i < deps.length) {
        const w = deps[top.i++]!;
        if (!idx.has(w)) {
          idx.set(w, index);
          low.set(w, index++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, idx.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.v;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!));
      }
      if (low.get(top.v) === idx.get(top.v)) {
        const group: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          group.push(w);
        } while (w !== top.v);
        const selfLoop = group.length === 1 && (graph.get(top.v) ?? []).includes(top.v);
        if (group.length > 1 || selfLoop) groups.push(group);
      }
    }
  }
  // the shortest cycle through the group's first file (breadth-first inside the group)
  return groups.map((group) => {
    const members = new Set(group);
    const first = [...group].sort()[0]!;
    const prev = new Map<string, string>();
    const queue = [first];
    let end: string | null = null;
    while (queue.length && end === null) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!members.has(w)) continue;
        if (w === first) {
          end = v;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const path = [first];
    for (let v = end; v !== null && v !== first; v = prev.get(v) ?? null) path.splice(1, 0, v);
    path.push(first);
    return path;
  });
}

export function checkCycles(roots: string[], cwd = process.cwd()): string[][] {
  const files = roots.flatMap((r) => sourceFiles(resolve(cwd, r)));
  return findCycles(importGraph(files)).map((c) => c.map((f) => relative(cwd, f)));
}

/** Imports that go sideways or up the layers (`from -> to`, relative to cwd). */
export function checkLayers(
  modulesDir = MODULES_DIR,
  cwd = process.cwd(),
  layers: Record<string, number> = LAYERS,
): string[] {
  const root = resolve(cwd, modulesDir);
  const folderOf = (f: string) => {
    const rel = relative(root, f);
    return rel.startsWith('..') ? null : rel.split(/[\\/]/)[0]!;
  };
  const out: string[] = [];
  for (const [from, deps] of importGraph(sourceFiles(root))) {
    const a = folderOf(from);
    const ra = a === null ? undefined : layers[a];
    if (ra === undefined) continue;
    for (const to of deps) {
      const b = folderOf(to);
      const rb = b === null ? undefined : layers[b];
      if (rb === undefined || a === b || rb < ra) continue;
      out.push(`${relative(cwd, from)} -> ${relative(cwd, to)} (${a} may not import ${b})`);
    }
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const roots = process.argv.slice(2);
  const started = Date.now();
  const cycles = checkCycles(roots.length ? roots : DEFAULT_ROOTS);
  for (const c of cycles) console.error(`import cycle: ${c.join(' -> ')}`);
  const upward = roots.length ? [] : checkLayers();
  for (const v of upward) console.error(`layer violation: ${v}`);
  if (cycles.length || upward.length) {
    console.error(
      `${cycles.length} import cycle(s), ${upward.length} layer violation(s); imports go one way only (docs/ARCHITECTURE.md)`,
    );
    process.exit(1);
  }
  console.log(`no import cycles, disk path layers hold (${Date.now() - started} ms)`);
}
