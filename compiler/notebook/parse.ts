// parseNotebook: .ipynb text → Notebook, or diagnostics naming the file (and cell) when it is not
// a TypeScript or JavaScript nbformat-4 notebook.
//
// Accepts what real notebooks contain: `source` as a string or a list of lines, cells with or
// without ids (nbformat 4.5 added them; older files have none), tslab's kernelspec and Deno's
// (both say language "typescript"), and JavaScript kernels' (tslab's jslab, ijavascript: language
// "javascript"). Nothing here evaluates code.
import { diagnostic } from '../diagnostics.js';
import type { Diagnostic, Notebook, NotebookCell } from '../types.js';

export interface ParsedNotebook {
  notebook?: Notebook;
  diagnostics: Diagnostic[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function stemOf(path: string): string {
  const base = path.split('/').pop() ?? path;
  return base.replace(/\.ipynb$/i, '');
}

/** A JSON value as a message names it: `missing`, `null`, `the number 42`, `a list holding a number`. */
function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const odd = v.find((x) => typeof x !== 'string');
    return odd === undefined
      ? 'a list'
      : `a list holding ${odd === null ? 'null' : Array.isArray(odd) ? 'a list' : `a ${typeof odd}`}`;
  }
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return typeof v === 'object' ? 'an object' : `the ${typeof v} ${String(v)}`;
}

function sourceText(source: unknown): string | undefined {
  if (typeof source === 'string') return source;
  if (Array.isArray(source) && source.every((s) => typeof s === 'string')) return source.join('');
  return undefined;
}

export function parseNotebook(path: string, text: string): ParsedNotebook {
  const at = { notebook: path };
  if (text.charCodeAt(0) === 0xfeff)
    return {
      diagnostics: [
        diagnostic(
          'error',
          'E_NOTEBOOK_JSON',
          at,
          'the file starts with a UTF-8 byte-order mark (BOM), which Jupyter does not read either',
          { hint: 'save it without one (an editor\'s "UTF-8" rather than "UTF-8 with BOM")' },
        ),
      ],
    };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    let detail = error instanceof Error ? error.message : String(error);
    // `… in JSON at position 1234`: as a person finds it, by line and column.
    const position = /\bat position (\d+)/.exec(detail);
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      const column = before.length - before.lastIndexOf('\n');
      detail += ` (line ${line}, column ${column})`;
    }
    return {
      diagnostics: [
        diagnostic('error', 'E_NOTEBOOK_JSON', at, `not valid JSON: ${detail}`, {
          hint: 'a notebook is a .ipynb JSON file; was it saved completely (or is it a merge conflict)?',
        }),
      ],
    };
  }
  if (!isObject(json) || json.nbformat !== 4 || !Array.isArray(json.cells)) {
    const found = !isObject(json)
      ? `the file holds ${Array.isArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`}, not an object`
      : json.nbformat === undefined
        ? 'no nbformat field'
        : json.nbformat !== 4
          ? `nbformat ${String(json.nbformat)}`
          : json.cells === undefined
            ? 'it has no "cells" list'
            : `its "cells" is ${describe(json.cells)}, not a list`;
    return {
      diagnostics: [
        diagnostic('error', 'E_NOTEBOOK_FORMAT', at, `not an nbformat 4 notebook (${found})`, {
          hint: 'open and save it in JupyterLab, or convert with `jupyter nbconvert --to notebook`',
        }),
      ],
    };
  }

  const metadata = isObject(json.metadata) ? json.metadata : {};
  const kernelspec = isObject(metadata.kernelspec) ? metadata.kernelspec : {};
  const languageInfo = isObject(metadata.language_info) ? metadata.language_info : {};
  const language = String(kernelspec.language ?? languageInfo.name ?? '').toLowerCase();
  const kernelName = String(kernelspec.name ?? '').toLowerCase();
  if (language && language !== 'typescript' && language !== 'javascript') {
    return {
      diagnostics: [
        diagnostic(
          'error',
          'E_NOTEBOOK_LANGUAGE',
          at,
          `the notebook's kernel language is "${language}", not TypeScript`,
          {
            hint: 'Cellar compiles notebooks written for TypeScript (tslab, Deno) and JavaScript (jslab, ijavascript) kernels',
          },
        ),
      ],
    };
  }
  const javascript = language === 'javascript';
  const kernel: Notebook['kernel'] = kernelName.includes('deno')
    ? 'deno'
    : kernelName.includes('jslab')
      ? 'jslab'
      : javascript
        ? 'javascript'
        : kernelName.includes('tslab') || !kernelName
          ? 'tslab'
          : 'typescript';

  const diagnostics: Diagnostic[] = [];
  const cells: NotebookCell[] = [];
  json.cells.forEach((raw: unknown, index: number) => {
    const where = { notebook: path, cell: index + 1 };
    if (!isObject(raw)) {
      diagnostics.push(
        diagnostic('error', 'E_NOTEBOOK_FORMAT', where, 'the cell is not a JSON object'),
      );
      return;
    }
    const id = typeof raw.id === 'string' ? raw.id : undefined;
    const type = raw.cell_type;
    const bad = (message: string) =>
      diagnostics.push(
        diagnostic('error', 'E_NOTEBOOK_FORMAT', { ...where, cellId: id }, message, {
          hint: 'open and save the notebook in JupyterLab to repair it, or fix the cell in the JSON',
        }),
      );
    if (type !== 'code' && type !== 'markdown' && type !== 'raw') {
      bad(
        `the cell's \`cell_type\` is ${describe(type)}; nbformat 4 knows "code", "markdown" and "raw"`,
      );
      return;
    }
    // A code cell without its source would silently drop its task (or join its code to the task
    // above); prose and raw cells without one are harmless and read as empty.
    const source = sourceText(raw.source ?? (type === 'code' ? undefined : ''));
    if (source === undefined) {
      bad(
        `the ${type} cell's \`source\` is ${describe(raw.source)}; it must be a string or a list of strings`,
      );
      return;
    }
    const cellMeta = isObject(raw.metadata) ? raw.metadata : {};
    const tags = Array.isArray(cellMeta.tags)
      ? cellMeta.tags.filter((t): t is string => typeof t === 'string')
      : [];
    cells.push({ index, id, type, source: source.replace(/\r\n?/g, '\n'), tags });
  });
  return {
    notebook: {
      path,
      stem: stemOf(path),
      kernel,
      language: javascript ? 'javascript' : 'typescript',
      cells,
    },
    diagnostics,
  };
}
