/**
 * @file The import graph of src-main and src-shared (tests aside) has no cycle — type-only imports included, since
 * a cycle of types is a cycle of concepts — and node/jobs (like the rest of node/ below the command line) never
 * imports node/cli. A cycle is reported as its chain of files. Reads the sources as text; imports nothing of them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DIRS = ['src-main', 'src-shared'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [p] : [];
  });
}

/** Relative module specifiers of `import … from`, `export … from` and `import('…')`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/g),
    ...text.matchAll(/import\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s));
}

/** The files of every strongly connected component with more than one file (or a file importing itself). */
export function importCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const files = DIRS.flatMap((d) => sources(join(ROOT, d)));
const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => t.endsWith('.ts'))]));
const rel = (f: string) => relative(ROOT, f);

describe('the import graph', () => {
  it('finds cycles (the checker itself)', () => {
    expect(
      importCycles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
          ['d', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
    expect(
      importCycles(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('has no import cycle in src-main or src-shared', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(importCycles(graph).map((scc) => scc.map(rel))).toEqual([]);
  });

  it('has node/jobs (and node/ below the command line) import nothing from node/cli', () => {
    const up = [...graph].flatMap(([f, targets]) => {
      const r = rel(f);
      if (!r.startsWith('src-main/node/') || r.startsWith('src-main/node/cli/')) return [];
      return targets.filter((t) => rel(t).startsWith('src-main/node/cli/')).map((t) => `${r} → ${rel(t)}`);
    });
    expect(up).toEqual([]);
  });
});
