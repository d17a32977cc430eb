// planJson: TaskPlan → the machine-readable plan `cellar plan --json` prints for tooling and CI,
// and planText, the same for people. The JSON shape is public; add fields, never rename them.
import type { TaskPlan } from '../types.js';

export interface PlanJson {
  notebook: string;
  tasks: {
    name: string;
    params: string[];
    upstream: string[];
    /** The task's cells numbered from 1, as people, Jupyter's counter, diagnostics and `cellar plan` text count them. */
    cellNumbers: number[];
    /** The same cells as 0-based indexes into the notebook's `cells` list, as nbformat tools count them. */
    cellIndexes: number[];
    /** = cellIndexes (0-based): the original field, kept because the shape is public. Prefer the two named ones. */
    cells: number[];
    outputs: string[];
    /** Values left out of `outputs` because they hold a value read from the environment (kept
     *  only when `//| output:` names them). Absent: none. */
    envValues?: string[];
  }[];
  params: { name: string; type: string; default: unknown }[];
}

export function planJson(plan: TaskPlan): PlanJson {
  return {
    notebook: plan.notebook,
    tasks: plan.tasks.map((t) => ({
      name: t.name,
      params: [...t.params],
      upstream: [...t.upstream],
      cellNumbers: t.cells.map((c) => c + 1),
      cellIndexes: [...t.cells],
      cells: [...t.cells],
      outputs: t.outputs.map((o) => o.name),
      ...(t.envValues?.length ? { envValues: [...t.envValues] } : {}),
    })),
    params: plan.params.map((p) => ({ name: p.name, type: p.type, default: p.default })),
  };
}

export function planText(plan: TaskPlan): string {
  const lines = [
    `${plan.notebook}: ${plan.tasks.length} task(s), ${plan.params.length} param(s), ${plan.tests.length} test cell(s)`,
  ];
  for (const p of plan.params)
    lines.push(`  param ${p.name}: ${p.type} = ${JSON.stringify(p.default)}`);
  for (const t of plan.tasks) {
    const cells = t.cells.map((c) => c + 1).join(', ');
    lines.push(`  task ${t.name} (cell${t.cells.length > 1 ? 's' : ''} ${cells})`);
    if (t.upstream.length) lines.push(`    after:   ${t.upstream.join(', ')}`);
    if (t.inputs.length)
      lines.push(`    inputs:  ${t.inputs.map((i) => `${i.name} ← ${i.fromTask}`).join(', ')}`);
    if (t.params.length) lines.push(`    params:  ${t.params.join(', ')}`);
    lines.push(
      `    outputs: ${t.outputs.map((o) => o.name + (o.codec ? ` (${o.codec})` : '')).join(', ') || '(none)'}`,
    );
    if (t.envValues?.length) lines.push(`    not stored: ${envValuesText(t.envValues)}`);
  }
  return lines.join('\n');
}

/**
 * Why a leaf task's values holding an environment read are not stored, and how to store one:
 * `r2 (it holds a value read from the environment, …; \`//| output: r2=json\` stores it)`. Shared
 * with `cellar show` (cli/commands/show.ts).
 */
export function envValuesText(names: readonly string[]): string {
  const list = names.map((n) => `'${n}'`).join(', ');
  const one = names.length === 1;
  return (
    `${list} ${one ? 'holds a value' : 'hold values'} read from the environment (a token or a password, most often), which is never stored unless asked; ` +
    `\`//| output: ${names[0]}=json\` (or another codec) under the task's \`//| task:\` line stores ${one ? 'it' : `'${names[0]}'`}`
  );
}
