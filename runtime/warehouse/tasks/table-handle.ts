// What a downstream task receives for an upstream `//| materialize` output: a live handle on the
// warehouse table, so the downstream cell's code means the same in the pipeline as in the notebook.
//
// In the notebook the upstream value is a lazy Query; in the pipeline it is this handle on the
// materialised table. Both interpolate into `sql` (a subquery / the table's name), and both have
// `.rows()`, `.stream()` and `.columns()`. The one difference: a Query is awaitable and a handle is
// not, because the runtime passes decoded values through async functions, which would adopt a
// thenable and run it. So write `await upstream.rows()` in cells that need the rows; using a
// handle as if it were an array fails with a message saying exactly that. It is stored as plain
// JSON ({kind, name, logical}) by its own codec, which claims these values, and decoded back.
import type { Codec } from '../../codecs/index.js';
import type { TableRef } from '../sql/compose.js';
import { isTableRef } from '../sql/compose.js';
import { Query } from '../sql/template.js';
import type { ColumnBatch, Row } from '../types.js';
import { decodeUtf8 } from '../../codecs/utf8.js';

const ARRAY_USE = new Set([
  'length',
  'map',
  'filter',
  'forEach',
  'reduce',
  'slice',
  'find',
  'some',
  'every',
  'at',
  'flatMap',
  'sort',
  'entries',
  'values',
  'keys',
  'includes',
  'indexOf',
]);

/**
 * A reference to a table in the warehouse, passed between tasks instead of its rows: what a task
 * gets for an upstream output that was materialized (`//| materialize`). Interpolate it in a
 * `sql` template to read the table; `await handle.rows()` fetches its rows (see the header above).
 */
export class TableHandle implements TableRef {
  readonly kind = 'cellar.table' as const;

  constructor(
    readonly name: string,
    readonly logical?: string,
  ) {
    // Used like rows (`upstream.map(…)`, `upstream[0]`)? Say what it is and what to write instead.
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (
          typeof prop === 'string' &&
          !(prop in target) &&
          (ARRAY_USE.has(prop) || /^\d+$/.test(prop))
        ) {
          throw new TypeError(
            `${target.logical ?? target.name} is a warehouse table here (materialised upstream as ${target.name}), not an array of rows: use \`await value.rows()\` (works in the notebook too), or interpolate it into sql\`\``,
          );
        }
        return Reflect.get(target, prop, receiver);
      },
    });
  }

  /** `SELECT * FROM` the table, as a Query (compose it further, or run it). */
  query(): Query<Row> {
    return new Query<Row>(['SELECT * FROM ', ''], [this.toJSON()], undefined);
  }

  /** The table's rows (all in memory; use `stream()` for big tables). */
  rows(): Promise<Row[]> {
    return this.query().rows();
  }

  stream(opts: { pageSize?: number } = {}): AsyncIterable<Row[]> {
    return this.query().stream(opts);
  }

  columns(opts: { pageSize?: number } = {}): AsyncIterable<ColumnBatch> {
    return this.query().columns(opts);
  }

  toJSON(): TableRef {
    return this.logical === undefined
      ? { kind: 'cellar.table', name: this.name }
      : { kind: 'cellar.table', name: this.name, logical: this.logical };
  }
}

const utf8 = new TextEncoder();

export const tableHandleCodec: Codec = {
  id: 'warehouse-table',
  version: 1,
  ext: 'json',
  claims: (value) => isTableRef(value),
  encode(value) {
    const ref = value as TableRef;
    return {
      bytes: utf8.encode(
        JSON.stringify({
          kind: 'cellar.table',
          name: ref.name,
          ...(ref.logical ? { logical: ref.logical } : {}),
        }),
      ),
      schema: { kind: 'json', type: 'warehouse-table' },
    };
  },
  decode(bytes) {
    const ref = JSON.parse(decodeUtf8(bytes)) as TableRef;
    return new TableHandle(ref.name, ref.logical);
  },
};
