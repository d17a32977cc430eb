// `npm run bench`: runs every bench/<area>.bench.ts (or the ones named on the command line) and
// writes bench/results.json and bench/RESULTS.md. Each area exports a default async function
// returning a BenchSection; figures from an area not run this time are kept from the last run.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';
import type { BenchSection } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const areas = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .filter((a) => wanted.length === 0 || wanted.includes(a))
  .sort();

const round2 = (x: number) => Math.round(x * 100) / 100;
const resultsPath = join(here, 'results.json');
const previous: Record<string, BenchSection> = existsSync(resultsPath)
  ? JSON.parse(readFileSync(resultsPath, 'utf8')).sections
  : {};
const sections: Record<string, BenchSection> = { ...previous };
for (const area of areas) {
  console.log(`bench: ${area}`);
  const mod = await import(pathToFileURL(join(here, `${area}.bench.ts`)).href);
  const loadBefore = os.loadavg()[0]!;
  sections[area] = {
    ...(await mod.default()),
    loadAverage: [round2(loadBefore), round2(os.loadavg()[0]!)],
  };
  for (const row of sections[area].rows)
    console.log(`  ${row.name}: ${row.value} ${row.unit}${row.aim ? ` (aim ${row.aim})` : ''}`);
}

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const ordered = Object.fromEntries(
  Object.keys(sections)
    .sort()
    .map((k) => [k, sections[k]]),
);
writeFileSync(resultsPath, JSON.stringify({ machine, sections: ordered }, null, 2) + '\n');

const md = [
  '# Benchmark results',
  '',
  `Machine: ${machine}. Written by \`npm run bench\`; do not edit by hand.`,
  '',
];
for (const [area, section] of Object.entries(ordered)) {
  const load = section.loadAverage
    ? `; load average ${section.loadAverage[0]} → ${section.loadAverage[1]} on ${os.cpus().length} cores`
    : '';
  md.push(`## ${section.title} (\`${area}\`, ${section.measuredAt}${load})`, '');
  if (section.notes) md.push(section.notes, '');
  md.push('| measure | value | aim | met |', '| --- | ---: | --- | --- |');
  for (const r of section.rows)
    md.push(
      `| ${r.name} | ${r.value} ${r.unit} | ${r.aim ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : 'no'} |`,
    );
  md.push('');
}
writeFileSync(join(here, 'RESULTS.md'), md.join('\n'));
