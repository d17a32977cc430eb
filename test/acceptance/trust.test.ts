// A cached result is always the right result (issue 8), through the real CLI on the shared
// failing cases (test/acceptance/fixtures/trust/, copies of /work/shared/cases): code a task
// loads by any import is in its key and in the pipeline bundle's freshness, by content.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Project, fixtures, project, removeProjects } from './harness.js';

afterAll(removeProjects);

const trust = join(fixtures, 'trust');

function withCase(...files: string[]): Project {
  const p = project();
  for (const f of files) cpSync(join(trust, f), join(p.dir, 'notebooks', f), { recursive: true, preserveTimestamps: true });
  return p;
}

/** Edit a file keeping its length, then put its mtime back from a saved copy (`touch -r`). */
function editKeepingMtimeAndSize(file: string, from: string, to: string): void {
  expect(to.length).toBe(from.length);
  execFileSync('cp', ['-p', file, `${file}.saved`]);
  const text = readFileSync(file, 'utf8');
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
  execFileSync('touch', ['-r', `${file}.saved`, file]);
  expect(statSync(file, { bigint: true }).mtimeNs).toBe(statSync(`${file}.saved`, { bigint: true }).mtimeNs);
}

function run(p: Project, notebook: string): Record<string, string> {
  const r = p.cellar('run', notebook, '--json');
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(JSON.parse(r.stdout).tasks.map((t: { name: string; status: string }) => [t.name, t.status]));
}

function show(p: Project, notebook: string, task: string, output: string): unknown {
  const r = p.cellar('show', notebook, task, output, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('whatever a task loads is in its key and in the bundle, by content', () => {
  it('a helper-module edit that keeps size and mtime re-runs the task with the new code (bug05)', () => {
    const p = withCase('bug05_helper_module.ipynb', 'bug05_lib');
    const nb = 'notebooks/bug05_helper_module.ipynb';
    expect(run(p, nb)).toEqual({ b05_prices: 'ran', b05_counts: 'ran' });
    expect(show(p, nb, 'b05_prices', 'labels')).toEqual(['$1.00', '$2.50', '$10.00']);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'bug05_lib', 'round.ts'), 'Math.round', 'Math.floor');
    // Only the task that formats prices re-runs, and with the new code.
    expect(run(p, nb)).toEqual({ b05_prices: 'ran', b05_counts: 'cached' });
    expect(show(p, nb, 'b05_prices', 'labels')).toEqual(['$1.00', '$2.49', '$10.00']);
  });

  it('an edited JSON import re-runs its reader with the new values, not the bundled old ones (bug06)', () => {
    const p = withCase('bug06_json_import.ipynb', 'bug06_limits.json');
    const nb = 'notebooks/bug06_json_import.ipynb';
    run(p, nb);
    expect(show(p, nb, 'b06_flag', 'flagged')).toEqual([25, 121, 140]);
    const limits = join(p.dir, 'notebooks', 'bug06_limits.json');
    writeFileSync(limits, readFileSync(limits, 'utf8').replace('120', '100'));
    expect(run(p, nb)).toEqual({ b06_flag: 'ran' });
    expect(show(p, nb, 'b06_flag', 'flagged')).toEqual([25, 119, 121, 140]);
    // Variant: the same kind of edit, with size and mtime kept.
    editKeepingMtimeAndSize(limits, '"minSpeed": 30', '"minSpeed": 20');
    expect(run(p, nb)).toEqual({ b06_flag: 'ran' });
    expect(show(p, nb, 'b06_flag', 'flagged')).toEqual([119, 121, 140]);
  });
});

describe('empty tables', () => {
  it('an empty result stored as a table reaches the next task in the shape it left (bug13)', () => {
    const p = withCase('bug13_empty_outputs.ipynb');
    const nb = 'notebooks/bug13_empty_outputs.ipynb';
    expect(run(p, nb)).toEqual({ b13_filter: 'ran', b13_report: 'ran' });
    expect(show(p, nb, 'b13_filter', 'bigOrders')).toEqual([]);
    expect(show(p, nb, 'b13_report', 'rowCount')).toBe(0);
    expect(show(p, nb, 'b13_report', 'columnNames')).toEqual(['id', 'region', 'amount']);
    expect(show(p, nb, 'b13_report', 'amountsIsArray')).toBe(true);
    expect(show(p, nb, 'b13_report', 'totalAmount')).toBe(0);
  });
});
