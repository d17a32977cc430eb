// Writing the warm-run record (runtime/run/warm-record.ts `writeWarmRecord`): the check of a warm
// run trusts the cached tasks' folder stamp for "every manifest is there", so the write must
// refuse a record while any cached task's manifest is missing, and a manifest removed after the
// write must void the record through the stamp alone.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { root } from './helpers.js';
import {
  readWarmRecord,
  stillHolds,
  writeWarmRecord,
  type WarmFacts,
} from '../../runtime/run/warm-record.js';
import { RunReadStamps } from '../../runtime/key/run-reads.js';

const base = join(root, 'test', '.tmp', 'runtime', `warmwrite-${process.pid}`);
let dir = '';
let n = 0;
const KEYS = { a: 'aaaaaaaaaaaaaaaa', b: 'bbbbbbbbbbbbbbbb', c: 'cccccccccccccccc' };

/** A workspace holding pipeline `p`, with a manifest for each task named. */
function workspaceWith(tasks: (keyof typeof KEYS)[]): string {
  const workspace = join(dir, 'workspace');
  for (const task of Object.keys(KEYS) as (keyof typeof KEYS)[]) {
    const folder = join(workspace, 'p', task);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${task}_${KEYS[task]}.json`), '1');
    if (tasks.includes(task)) writeFileSync(join(folder, `${KEYS[task]}.manifest.json`), '{}');
  }
  return workspace;
}

function facts(workspace: string): WarmFacts {
  return {
    build: 'test-build',
    context: { entry: 'p' },
    pipelineFile: join(dir, 'pipeline.ts'),
    pipeline: 'p',
    workspace,
    sources: {},
    absent: [],
    resolved: {},
    envNames: [],
    runReads: { root: dir, workdir: dir, tasks: {}, uses: {} },
    listings: {},
    written: {},
    globs: {},
    tasks: (Object.keys(KEYS) as (keyof typeof KEYS)[]).map((name) => ({
      name,
      key: KEYS[name],
      cached: true,
    })),
  };
}

const holds = (file: string) => {
  const record = readWarmRecord(file, 'test-build');
  return (
    record !== undefined && stillHolds(file, record, { entry: 'p' }, RunReadStamps.forProject(dir))
  );
};

beforeEach(() => {
  dir = join(base, `w${++n}`);
  mkdirSync(dir, { recursive: true });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('writeWarmRecord: the done markers are checked once, when the record is written', () => {
  it('refuses (and leaves no record) while a cached task has no manifest', () => {
    const file = join(dir, 'record.json');
    expect(writeWarmRecord(file, facts(workspaceWith(['a', 'c'])))).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  it('records when every manifest is there; a manifest removed later voids it by the folder stamp', () => {
    const workspace = workspaceWith(['a', 'b', 'c']);
    const file = join(dir, 'record.json');
    expect(writeWarmRecord(file, facts(workspace))).toBe(true);
    expect(holds(file)).toBe(true);
    rmSync(join(workspace, 'p', 'b', `${KEYS.b}.manifest.json`));
    expect(holds(file)).toBe(false);
  });
});
