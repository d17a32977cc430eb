// Which store a run uses, from one spec string: `gs://bucket/prefix` is a Cloud Storage bucket
// (GcsStore), anything else a folder (LocalStore; a shared NFS folder works, its locks are safe
// across hosts). The spec comes from `--store`, else $CELLAR_STORE, else `store` in
// cellar.config.json (a relative folder there is relative to that file), else the workspace.
// `gcs.apiEndpoint` in the config (or $CELLAR_GCS_ENDPOINT) points the client elsewhere: tests.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { CONFIG_FILE, findProjectRoot } from '../project.js';
import { LocalStore } from './local.js';
import type { Store } from './store.js';

/** The store fields of `cellar.config.json`. */
export interface StoreConfig {
  /** `gs://bucket/prefix` or a folder (relative to the config file). */
  store?: string;
  gcs?: { apiEndpoint?: string; projectId?: string };
}

export interface StoreChoice {
  /** A `gs://` URI or an absolute folder. */
  spec: string;
  gcs: { apiEndpoint?: string; projectId?: string };
  /** Where the spec came from, for messages: '--store', 'CELLAR_STORE', the config path, or 'workspace'. */
  source: string;
}

/** Decide the store spec. `workspace` is the resolved local workspace (the fallback). */
export function chooseStore(options: {
  explicit?: string;
  workspace: string;
  near?: string;
  env?: NodeJS.ProcessEnv;
}): StoreChoice {
  const env = options.env ?? process.env;
  const root = findProjectRoot(options.near ?? process.cwd(), env);
  const file = join(root, CONFIG_FILE);
  let config: StoreConfig = {};
  if (existsSync(file)) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as StoreConfig;
    } catch (error) {
      throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
    }
    checkStoreConfig(file, config);
  }
  const gcs = {
    ...config.gcs,
    ...(env.CELLAR_GCS_ENDPOINT ? { apiEndpoint: env.CELLAR_GCS_ENDPOINT } : {}),
  };
  const pick = (spec: string, source: string, base: string): StoreChoice => ({
    spec: spec.startsWith('gs://') || isAbsolute(spec) ? spec : resolve(base, spec),
    gcs,
    source,
  });
  if (options.explicit) return pick(options.explicit, '--store', process.cwd());
  if (env.CELLAR_STORE) return pick(env.CELLAR_STORE, 'CELLAR_STORE', process.cwd());
  if (config.store) return pick(config.store, file, root);
  return { spec: options.workspace, gcs, source: 'workspace' };
}

/**
 * The store fields of a parsed config, checked: `store` a non-empty string, `gcs` an object of
 * strings. @throws Error naming the file, the field and what it holds.
 */
function checkStoreConfig(file: string, config: unknown): asserts config is StoreConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new Error(`${file}: must hold a JSON object, got ${JSON.stringify(config)}`);
  const c = config as Record<string, unknown>;
  if (c.store !== undefined && (typeof c.store !== 'string' || c.store === ''))
    throw new Error(
      `${file}: "store" must be a folder or a gs://bucket/prefix string, got ${JSON.stringify(c.store)}`,
    );
  if (c.gcs === undefined) return;
  if (c.gcs === null || typeof c.gcs !== 'object' || Array.isArray(c.gcs))
    throw new Error(`${file}: "gcs" must be an object, got ${JSON.stringify(c.gcs)}`);
  for (const [k, v] of Object.entries(c.gcs))
    if ((k === 'apiEndpoint' || k === 'projectId') && typeof v !== 'string')
      throw new Error(`${file}: "gcs.${k}" must be a string, got ${JSON.stringify(v)}`);
}

/** Open the store a spec names. Throws for a malformed `gs://` URI (the message says the form). */
export async function openStore(choice: Pick<StoreChoice, 'spec' | 'gcs'>): Promise<Store> {
  if (!choice.spec.startsWith('gs://')) return new LocalStore(choice.spec);
  const { GcsStore } = await import('./gcs.js');
  return GcsStore.open(choice.spec, choice.gcs);
}
