// Data checks: `//| check: …` directives on a task, and `defineChecks(table, [...])` next to a
// source table in code. A failing check stops the task with a message naming the table, the
// check and the actual value. The grammar (which checks exist) is ../check-grammar.ts.
//
// Checks run inside the warehouse (COUNT queries) when the target is a table or a Query, and in
// Node when a task's output is already an array of rows.
import type { QueryTemplate, TableRef } from '../sql/compose.js';
import { attachCheck } from './origin.js';
import { ident, param, sql } from '../sql/template.js';
import { getWarehouse, prepareQuery } from '../session.js';
import { WarehouseError, type ColumnSchema, type LogicalType, type Row } from '../types.js';

import { parseCheck, isParseError, type Check } from '../check-grammar.js';

export { parseCheck, isParseError, type Check, type CheckParseError } from '../check-grammar.js';

export interface CheckTarget {
  /** What to name in messages: the table, or "output X of task Y". */
  label: string;
  table?: TableRef;
  query?: QueryTemplate;
  rows?: Row[];
}

export interface CheckOutcome {
  check: string;
  ok: boolean;
  actual: string;
}

/** Evaluate one check; never throws for a failing check (that is the outcome), only for errors. */
export async function evaluateCheck(
  check: Check,
  target: CheckTarget,
  params: Record<string, unknown>,
): Promise<CheckOutcome> {
  const source = target.table ?? target.query;
  const out = (ok: boolean, actual: string): CheckOutcome => ({ check: check.text, ok, actual });
  switch (check.kind) {
    case 'rows': {
      const n = target.rows ? target.rows.length : await count(source!);
      return out(compare(n, check.op, check.value), `${n} rows`);
    }
    case 'columns': {
      const schema = target.rows ? schemaOfRows(target.rows) : await schemaOf(target);
      const problems: string[] = [];
      for (const c of check.columns) {
        const col = schema.find((s) => s.name === c.name);
        if (!col)
          problems.push(
            `${c.name} missing (columns: ${schema.map((s) => s.name).join(', ') || 'none'})`,
          );
        else if (c.type !== 'any' && col.logical !== c.type)
          problems.push(`${c.name} is ${col.logical} (${col.type}), expected ${c.type}`);
      }
      return out(problems.length === 0, problems.length ? problems.join('; ') : 'all present');
    }
    case 'not_null': {
      const nulls: string[] = [];
      for (const c of check.columns) {
        const n = target.rows
          ? target.rows.filter((r) => r[c] === null || r[c] === undefined).length
          : await count(source!, sql`${ident(c)} IS NULL`);
        if (n > 0) nulls.push(`${c} has ${n} NULL${n > 1 ? 's' : ''}`);
      }
      return out(nulls.length === 0, nulls.length ? nulls.join('; ') : 'no NULLs');
    }
    case 'unique': {
      let dupes: number;
      if (target.rows) {
        const seen = new Set(
          target.rows.map((r) => JSON.stringify(check.columns.map((c) => r[c]))),
        );
        dupes = target.rows.length - seen.size;
      } else {
        const cols = check.columns.map((c) => ident(c));
        const list = cols.slice(1).reduce((acc, c) => sql`${acc}, ${c}`, sql`${cols[0]}`);
        const [row] =
          (await sql`SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT ${list} FROM ${source}) AS d) AS n FROM ${source} AS t`) as {
            n: number;
          }[];
        dupes = Number(row?.n ?? 0);
      }
      return out(
        dupes === 0,
        dupes === 0 ? 'unique' : `${dupes} duplicate row${dupes > 1 ? 's' : ''}`,
      );
    }
    case 'partition': {
      const value = 'param' in check.value ? params[check.value.param] : check.value.literal;
      if (value === undefined)
        throw new WarehouseError(
          'E_WH_CHECK',
          `check "${check.text}": the task has no param ${(check.value as { param: string }).param} (params: ${Object.keys(params).join(', ') || 'none'})`,
        );
      const n = target.rows
        ? target.rows.filter(
            (r) => String(r[check.column]).slice(0, String(value).length) === String(value),
          ).length
        : await count(
            source!,
            sql`CAST(${ident(check.column)} AS STRING) LIKE ${param(String(value) + '%', 'STRING')}`,
          );
      return out(n > 0, `${n} rows where ${check.column} = ${String(value)}`);
    }
  }
}

function compare(n: number, op: Extract<Check, { kind: 'rows' }>['op'], v: number): boolean {
  switch (op) {
    case '>=':
      return n >= v;
    case '>':
      return n > v;
    case '<=':
      return n <= v;
    case '<':
      return n < v;
    case '=':
      return n === v;
    case '!=':
      return n !== v;
  }
}

async function count(source: TableRef | QueryTemplate, where?: QueryTemplate): Promise<number> {
  const q = where
    ? sql`SELECT COUNT(*) AS n FROM ${source} AS t WHERE ${where}`
    : sql`SELECT COUNT(*) AS n FROM ${source} AS t`;
  const [row] = (await q) as { n: number }[];
  return Number(row?.n ?? 0);
}

async function schemaOf(target: CheckTarget): Promise<ColumnSchema[]> {
  const w = await getWarehouse();
  if (target.table) {
    const s = await w.tableSchema(target.table.name);
    if (!s) throw new WarehouseError('E_WH_CHECK', `${target.label}: table does not exist`);
    return s;
  }
  const { schema } = await w.query(
    await prepareQuery(w, sql`SELECT * FROM ${target.query} AS t LIMIT 0`),
  );
  return schema;
}

function schemaOfRows(rows: Row[]): ColumnSchema[] {
  const first = rows[0] ?? {};
  return Object.keys(first).map((name) => {
    const v = rows.find((r) => r[name] !== null && r[name] !== undefined)?.[name];
    const logical: LogicalType =
      typeof v === 'number'
        ? 'number'
        : typeof v === 'boolean'
          ? 'boolean'
          : Array.isArray(v)
            ? 'array'
            : typeof v === 'object' && v !== null
              ? 'struct'
              : typeof v === 'string'
                ? /^\d{4}-\d{2}-\d{2}$/.test(v)
                  ? 'date'
                  : /^\d{4}-\d{2}-\d{2}T/.test(v)
                    ? 'timestamp'
                    : 'string'
                : 'other';
    return { name, type: typeof v, logical };
  });
}

/** The columns a check names and reads through Cellar's own query (`columns` reports its own). */
function checkColumns(check: Check): string[] {
  if (check.kind === 'not_null' || check.kind === 'unique') return check.columns;
  if (check.kind === 'partition') return [check.column];
  return [];
}

/** Column names match as the warehouses match them: DuckDB and BigQuery ignore case. Rows in
 *  Node are plain objects: their keys match exactly. */
function hasColumn(schema: ColumnSchema[], name: string, exact: boolean): boolean {
  return schema.some((s) =>
    exact ? s.name === name : s.name.toLowerCase() === name.toLowerCase(),
  );
}

/**
 * The target's columns, when `check` names any: a check on a column the table lacks failed with
 * the engine's Binder Error on Cellar's generated COUNT query, naming neither the check nor the
 * table's columns. Undefined when the check names none (asked again for the next check); null
 * when they cannot be known (an empty array of rows).
 */
async function knownColumns(
  check: Check,
  target: CheckTarget,
): Promise<ColumnSchema[] | null | undefined> {
  if (checkColumns(check).length === 0) return undefined;
  if (target.rows) return target.rows.length > 0 ? schemaOfRows(target.rows) : null;
  return schemaOf(target);
}

/** Run checks and throw one error listing every failure. `where` names the task/cell. */
export async function runChecks(
  checks: readonly (string | Check)[],
  target: CheckTarget,
  params: Record<string, unknown>,
  where = '',
): Promise<CheckOutcome[]> {
  const outcomes: CheckOutcome[] = [];
  // The target's columns, read once when a check names a column (null: not known, no rows).
  let schema: ColumnSchema[] | null | undefined;
  for (const c of checks) {
    const parsed = typeof c === 'string' ? parseCheck(c) : c;
    if (isParseError(parsed))
      throw attachCheck(
        new WarehouseError('E_WH_CHECK', `${where}${parsed.message}`),
        typeof c === 'string' ? c.trim() : parsed.message,
      );
    try {
      schema ??= await knownColumns(parsed, target);
      const missing = schema
        ? checkColumns(parsed).filter((c) => !hasColumn(schema!, c, !!target.rows))
        : [];
      if (missing.length > 0) {
        const names = schema!.map((x) => x.name).join(', ') || 'none';
        throw new WarehouseError(
          'E_WH_CHECK',
          `${where}check "${parsed.text}": column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist in ${target.label} (its columns: ${names}). Name one of its columns in the check, or make the query return the column.`,
          { check: parsed.text, missing, columns: schema!.map((x) => x.name) },
        );
      }
      outcomes.push(await evaluateCheck(parsed, target, params));
    } catch (e) {
      throw attachCheck(e, parsed.text); // the check's own query failed: point at the check
    }
  }
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) {
    const lines = failed.map(
      (f) => `  check "${f.check}" failed on ${target.label}: actual ${f.actual}`,
    );
    // The first failed check's `//| check:` line is where the CLI points (origin.ts).
    throw attachCheck(
      new WarehouseError(
        'E_WH_CHECK',
        `${where}${failed.length} data check${failed.length > 1 ? 's' : ''} failed\n${lines.join('\n')}`,
        { failed },
      ),
      failed[0]!.check,
    );
  }
  return outcomes;
}

const sourceChecks = new Map<string, string[]>();

/** Declare checks on a source table, in code: every task reading it runs them first (once per
 *  table version per process). */
export function defineChecks(table: string, checks: string[]): void {
  for (const c of checks) {
    const p = parseCheck(c);
    if (isParseError(p))
      throw new WarehouseError(
        'E_WH_CHECK',
        `defineChecks(${JSON.stringify(table)}): ${p.message}`,
      );
  }
  sourceChecks.set(table, [...(sourceChecks.get(table) ?? []), ...checks]);
}

export function checksForSource(table: string): string[] {
  return sourceChecks.get(table) ?? [];
}

/** Check a table now, in a notebook or a script: throws when a check fails. */
export async function checkTable(
  table: string,
  checks: string[],
  params: Record<string, unknown> = {},
): Promise<CheckOutcome[]> {
  return runChecks(
    checks,
    { label: `table ${table}`, table: { kind: 'cellar.table', name: table } },
    params,
  );
}
