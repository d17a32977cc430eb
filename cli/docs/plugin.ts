// The Cellar plugin for TypeDoc: turns TypeDoc's project (the generated task modules, converted
// from TypeScript as usual) into the knowledge site, using only TypeDoc's plugin surfaces:
//
// - converter (RESOLVE_BEGIN): one module per pipeline (its pipeline.ts, renamed to the notebook
//   stem) holding one module per task (its generated module, or a bare module when API docs are
//   off); task comments become the notebook prose (parsed by TypeDoc, so Markdown and relative
//   images work, resolved against the notebook's folder); a "Run history" document per pipeline;
//   the project readme is the home page listing the pipelines with their opening prose.
// - a router (`cellar`): pipelines/<name>.html, tasks/<pipeline>/<task>.html, runs/<name>.html,
//   and TypeDoc's kind folders for the API pages.
// - Markdown: the HTML it yields is sanitized (sanitize.ts), so raw HTML in prose cannot run.
// - renderer hooks: the feature panel after a task's prose, params/tasks/DAG after a pipeline's,
//   a small stylesheet.
// - the search index (IndexEvent): task pages also match their output column names, output
//   names, params and prose. The index file itself is TypeDoc's; it is fetched on first use of
//   the search box (see LAZY_SEARCH_JS), not with every page.
import {
  Comment,
  Converter,
  DeclarationReflection,
  DocumentReflection,
  IndexEvent,
  JSX,
  KindRouter,
  MarkdownEvent,
  MinimalSourceFile,
  PageEvent,
  ProjectReflection,
  ReflectionKind,
  type Application,
  type CommentDisplayPart,
  type Context,
  type DefaultThemeRenderContext,
  type NormalizedPath,
  type Reflection,
} from 'typedoc';
import { resolve } from 'node:path';
import type { DocsSite, PipelineDoc, TaskDoc } from './model.js';
import { CELLAR_CSS, historyMarkdown, pipelinePanel, taskPanel } from './pages.js';
import { mdCode, mdText } from './md.js';
import { sanitizeProse } from './sanitize.js';

/** A pipeline with more tasks than this groups them into sections of this size (page size bound). */
export const SECTION_SIZE = 200;
/** Markdown of a pipeline's prose-in-order kept on its page; the rest lives on the task pages. */
export const FLOW_BUDGET = 60_000;

type Role =
  | { kind: 'pipeline'; pipeline: PipelineDoc }
  | { kind: 'task'; pipeline: PipelineDoc; task: TaskDoc }
  | { kind: 'history'; pipeline: PipelineDoc }
  | { kind: 'section'; pipeline: PipelineDoc; index: number }
  | { kind: 'setup'; pipeline: PipelineDoc };

/** What each Cellar reflection is; read by the router and the hooks. */
const roles = new WeakMap<Reflection, Role>();

/** URLs: readable, stable paths for Cellar's pages; TypeDoc's kind folders for the rest. */
export class CellarRouter extends KindRouter {
  protected override getIdealBaseName(reflection: Reflection): string {
    const role = roles.get(reflection);
    const safe = (s: string) => s.replace(/[^\w.-]/g, '_');
    switch (role?.kind) {
      case 'pipeline':
        return `pipelines/${safe(role.pipeline.name)}`;
      case 'task':
        return `tasks/${safe(role.pipeline.name)}/${safe(role.task.name)}`;
      case 'history':
        return `runs/${safe(role.pipeline.name)}`;
      case 'section':
        return `pipelines/${safe(role.pipeline.name)}/tasks-${role.index + 1}`;
      case 'setup':
        return `pipelines/${safe(role.pipeline.name)}/setup`;
      default:
        return `api/${super.getIdealBaseName(reflection)}`;
    }
  }
}

export interface PluginInput {
  site: DocsSite;
  /** Pipeline name → (task name → lineage SVG; '' → the whole DAG when small). */
  pictures: Map<string, Map<string, string>>;
}

/** Install the plugin on an application that has been bootstrapped but not converted yet. */
export function installCellarPlugin(app: Application, input: PluginInput): void {
  const { site, pictures } = input;
  const taskReflections = new Map<string, Map<string, DeclarationReflection>>();
  const pipelineReflections = new Map<string, DeclarationReflection>();
  const historyReflections = new Map<string, DocumentReflection>();

  app.renderer.defineRouter('cellar', CellarRouter);

  // Raw HTML in notebook Markdown must not run in the site (sanitize.ts): every Markdown string
  // TypeDoc renders is cleaned after markdown-it made it HTML (TypeDoc's own listener, priority
  // 0, runs first).
  app.renderer.on(
    MarkdownEvent.PARSE,
    (event: MarkdownEvent) => {
      event.parsedText = sanitizeProse(event.parsedText);
    },
    -1000,
  );

  app.converter.on(
    Converter.EVENT_RESOLVE_BEGIN,
    (context: Context) => {
      const project = context.project;
      const byFile = new Map<string, DeclarationReflection>();
      for (const child of project.children ?? []) {
        const file = project.getSymbolIdFromReflection(child)?.fileName;
        if (file) byFile.set(resolve(file), child);
      }
      const parse = (markdown: string, file: string) =>
        app.converter.parseRawComment(
          new MinimalSourceFile(markdown, file as NormalizedPath),
          project.files,
        ).content;
      const adopt = (
        file: string | undefined,
        name: string,
        parent: DeclarationReflection | ProjectReflection,
      ): DeclarationReflection => {
        let r = file ? byFile.get(resolve(file)) : undefined;
        if (r) {
          byFile.delete(resolve(file!));
          if (r.parent !== parent) {
            (r.parent as ProjectReflection).removeChild(r);
            r.parent = parent;
            parent.addChild(r);
          }
          r.name = name;
        } else {
          r = new DeclarationReflection(name, ReflectionKind.Module, parent);
          project.registerReflection(r, undefined, undefined);
          parent.addChild(r);
        }
        return r;
      };

      for (const p of site.pipelines) {
        const notebookAbs = resolve(site.root, p.notebook);
        const pipe = adopt(p.modules?.pipeline, p.name, project);
        roles.set(pipe, { kind: 'pipeline', pipeline: p });
        pipelineReflections.set(p.name, pipe);
        if (p.modules?.setup)
          roles.set(adopt(p.modules.setup, 'setup', pipe), { kind: 'setup', pipeline: p });

        const sections: DeclarationReflection[] = [];
        if (p.tasks.length > SECTION_SIZE) {
          for (let i = 0; i * SECTION_SIZE < p.tasks.length; i++) {
            const first = i * SECTION_SIZE + 1;
            const last = Math.min(p.tasks.length, (i + 1) * SECTION_SIZE);
            const s = new DeclarationReflection(
              `tasks ${first}–${last}`,
              ReflectionKind.Module,
              pipe,
            );
            project.registerReflection(s, undefined, undefined);
            pipe.addChild(s);
            s.comment = new Comment([
              {
                kind: 'text',
                text: `Tasks ${first} to ${last} of ${mdText(p.name)}, in the plan's order.`,
              },
            ]);
            roles.set(s, { kind: 'section', pipeline: p, index: i });
            sections.push(s);
          }
        }
        const tasks = new Map<string, DeclarationReflection>();
        p.tasks.forEach((t, i) => {
          const parent = sections.length ? sections[Math.floor(i / SECTION_SIZE)]! : pipe;
          const r = adopt(p.modules?.tasks[t.name], t.name, parent);
          r.comment = new Comment(
            t.prose.trim()
              ? parse(t.prose, notebookAbs)
              : [{ kind: 'text', text: '*No notebook prose before this task.*' }],
          );
          roles.set(r, { kind: 'task', pipeline: p, task: t });
          tasks.set(t.name, r);
        });
        taskReflections.set(p.name, tasks);

        // The pipeline page's comment: the notebook's prose in order, each task linked where it starts.
        const parts: CommentDisplayPart[] = [];
        let budget = FLOW_BUDGET;
        for (const item of p.flow) {
          if (budget <= 0) {
            parts.push({
              kind: 'text',
              text: '\n\n*The rest of the notebook’s prose is on each task’s page.*\n\n',
            });
            break;
          }
          if (item.kind === 'prose') {
            parts.push(...parse(item.markdown, notebookAbs), { kind: 'text', text: '\n\n' });
            budget -= item.markdown.length;
          } else {
            parts.push(
              { kind: 'text', text: '> **Task** ' },
              // (TypeDoc puts a link's text into its HTML as it is: escaped here.)
              {
                kind: 'inline-tag',
                tag: '@link',
                text: mdText(item.task),
                target: tasks.get(item.task)!,
              },
              { kind: 'text', text: ` (cell ${item.cell})\n\n` },
            );
            budget -= 40;
          }
        }
        pipe.comment = new Comment(
          parts.length ? parts : [{ kind: 'text', text: '*This notebook has no prose.*' }],
        );

        const history = new DocumentReflection(
          `${p.name} run history`,
          pipe,
          parse(historyMarkdown(p), notebookAbs),
          {},
        );
        project.registerReflection(history, undefined, undefined);
        pipe.addChild(history);
        roles.set(history, { kind: 'history', pipeline: p });
        historyReflections.set(p.name, history);
      }

      // Home: the pipelines, each with its opening prose.
      const home: CommentDisplayPart[] = [
        {
          kind: 'text',
          text: `Pipelines of ${mdText(site.project)}, built from their notebooks by \`cellar docs\`.\n\n`,
        },
      ];
      for (const p of site.pipelines) {
        home.push(
          { kind: 'text', text: '## ' },
          {
            kind: 'inline-tag',
            tag: '@link',
            text: mdText(p.name),
            target: pipelineReflections.get(p.name)!,
          },
          { kind: 'text', text: `\n\n` },
        );
        home.push(...parse(opening(p), resolve(site.root, p.notebook)));
        home.push(
          { kind: 'text', text: `\n\n${p.tasks.length} tasks · ${mdCode(p.notebook)} · ` },
          {
            kind: 'inline-tag',
            tag: '@link',
            text: 'run history',
            target: historyReflections.get(p.name)!,
          },
          { kind: 'text', text: '\n\n' },
        );
      }
      project.readme = home;
    },
    1000, // before TypeDoc's own resolve-time plugins (comments, groups) see the project
  );

  const urlOf = (ctx: DefaultThemeRenderContext, pipeline: string) => (task: string) => {
    const r = taskReflections.get(pipeline)?.get(task);
    return r ? ctx.urlTo(r) : undefined;
  };

  // The feature panel right after the page's own comment (the prose), before TypeDoc's API listing.
  app.renderer.hooks.on('comment.afterTags', (ctx, comment, reflection) => {
    if (ctx.page.model !== reflection || reflection.comment !== comment)
      return JSX.createElement(JSX.Fragment, null);
    const role = roles.get(reflection);
    if (role?.kind === 'task') {
      const p = role.pipeline;
      const pipe = pipelineReflections.get(p.name);
      return taskPanel(
        p,
        role.task,
        pictures.get(p.name)?.get(role.task.name),
        urlOf(ctx, p.name),
        pipe ? ctx.urlTo(pipe) : undefined,
      );
    }
    if (role?.kind === 'pipeline') {
      const history = historyReflections.get(role.pipeline.name);
      return pipelinePanel(
        role.pipeline,
        pictures.get(role.pipeline.name)?.get(''),
        urlOf(ctx, role.pipeline.name),
        history ? ctx.urlTo(history) : undefined,
      );
    }
    return JSX.createElement(JSX.Fragment, null);
  });
  app.renderer.hooks.on('head.end', () =>
    JSX.createElement('style', null, JSX.createElement(JSX.Raw, { html: CELLAR_CSS })),
  );

  // Search: a task is found by its output column names, output names, params and prose.
  app.renderer.on(IndexEvent.PREPARE_INDEX, (event: IndexEvent) => {
    event.searchFieldWeights.columns = 4;
    event.searchFieldWeights.params = 2;
    event.searchFieldWeights.prose = 1;
    event.searchResults.forEach((r, i) => {
      const role = roles.get(r);
      if (role?.kind !== 'task') return;
      const t = role.task;
      const columns = t.outputs.flatMap((o) => [
        o.name,
        ...(o.stored?.schema.kind === 'table' ? o.stored.schema.columns.map((c) => c.name) : []),
      ]);
      event.searchFields[i] = {
        ...event.searchFields[i],
        columns: columns.join(' '),
        params: t.params.join(' '),
        prose: t.prose,
      };
    });
  });

  // The search index is TypeDoc's assets/search.js; load it when the search box is first used.
  app.renderer.on(PageEvent.END, (page: PageEvent) => {
    if (!page.contents) return;
    page.contents = page.contents.replace(
      /<script async src="([^"]*assets\/search\.js)" id="tsd-search-script"><\/script>/,
      (_all, src: string) =>
        `<script type="text/plain" data-src="${src}" id="tsd-search-script"></script>`,
    );
  });
}

/** The opening prose of a pipeline: the notebook's top markdown, else its first prose cell. */
function opening(p: PipelineDoc): string {
  const text =
    p.opening.trim() ||
    (p.flow.find((f) => f.kind === 'prose') as { markdown?: string } | undefined)?.markdown ||
    '';
  // The top heading repeats the pipeline's name: keep what follows it, up to two paragraphs.
  const body = text.replace(/^#[^\n]*\n+/, '');
  return body
    .split(/\n\s*\n/)
    .slice(0, 2)
    .join('\n\n');
}

/**
 * Loads TypeDoc's search index on the first use of the search box (click, focus, or the `/`
 * and Ctrl+K shortcuts), then tells TypeDoc's own search code it arrived (it listens for `load`
 * on #tsd-search-script) and replays the query typed meanwhile. Shipped as TypeDoc's customJs.
 */
export const LAZY_SEARCH_JS = `// cellar docs: load the search index on first use of the search box.
(function () {
  var loaded = false;
  function load() {
    if (loaded) return;
    var holder = document.getElementById('tsd-search-script');
    if (!holder || !holder.dataset.src) return;
    loaded = true;
    var s = document.createElement('script');
    s.src = holder.dataset.src;
    s.onload = function () {
      holder.dispatchEvent(new Event('load'));
      var field = document.getElementById('tsd-search-input');
      if (field && field.value) field.dispatchEvent(new Event('input'));
    };
    s.onerror = function () { holder.dispatchEvent(new Event('error')); };
    document.head.appendChild(s);
  }
  document.addEventListener('click', function (e) {
    if (e.target && e.target.closest && e.target.closest('#tsd-search-trigger, #tsd-search')) load();
  }, true);
  document.addEventListener('focusin', function (e) {
    if (e.target && e.target.id === 'tsd-search-input') load();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === '/' || ((e.ctrlKey || e.metaKey) && e.key === 'k')) load();
  }, true);
})();
`;
