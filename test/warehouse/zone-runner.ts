// Runs the dialect suite's time-sensitive cases (and a bound Date) on a DuckDB and
// prints the rows as JSON: timezones.test.ts spawns it with TZ set, since DuckDB's ICU reads the
// host zone once per process. Not a test by itself.
import { openDuckDB, sql, useWarehouse } from '../../runtime/index.js';
import { CASES } from './dialect-cases.js';

// A file shared by the zones' runs (ZONE_DB): the translations the first run caches in it spare
// the later ones the translator. Translation does not depend on the zone; running does.
const w = await openDuckDB({ path: process.env.ZONE_DB ?? ':memory:' });
useWarehouse(w, { dialect: 'bigquery' });
const run = (text: string) =>
  sql(Object.assign([text], { raw: [text] }) as unknown as TemplateStringsArray);
const out: Record<string, unknown> = {};
for (const c of CASES) out[c.name] = await run(c.sql);
out['bound Date'] =
  await sql`SELECT ${new Date('2024-03-10T02:30:00Z')} AS t, CURRENT_DATE() = DATE(CURRENT_TIMESTAMP()) AS same_day`;
await w.close();
process.stdout.write(JSON.stringify(out));
