// `--notify <url>`: post a run's summary to a webhook when it fails (and when it succeeds, with
// `--notify-on-success`). The body is Slack's incoming-webhook JSON (`text` plus mrkdwn
// `blocks`), which Slack, Mattermost, Rocket.Chat and Google Chat's compatible endpoints accept;
// anything else gets `text` and the machine-readable `cellar` object (the `--json` result).
// A notification that cannot be delivered never changes the run's exit code: the caller is told
// and decides (the CLI prints a warning).
import { formatSummary, resultJson } from './summary.js';
import type { RunResult } from '../types.js';

/** Slack limits a section's text to 3000 characters. */
const SECTION_LIMIT = 3000;

/** The JSON body posted for `result`. `host`: where the run happened, shown in the header. */
export function notificationBody(result: RunResult, host: string): Record<string, unknown> {
  const failed = result.tasks.filter((t) => t.status === 'failed');
  const headline = result.ok
    ? `Cellar run of ${result.pipeline} succeeded on ${host}`
    : `Cellar run of ${result.pipeline} FAILED on ${host}: ${failed.map((t) => t.name).join(', ') || 'see summary'}`;
  let summary = formatSummary(result);
  const fence = 8; // two ``` fences and newlines
  if (summary.length + fence > SECTION_LIMIT)
    summary = `${summary.slice(0, SECTION_LIMIT - fence - 2)}\n…`;
  return {
    text: headline,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${headline}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: '```\n' + summary + '\n```' } },
    ],
    cellar: JSON.parse(resultJson(result)) as unknown,
  };
}

/**
 * POST the summary to `url` if the outcome calls for it. Resolves to what happened: 'skipped'
 * (a success without `onSuccess`), 'sent', or an error message (HTTP status or network error,
 * 10 s timeout). Never throws.
 */
export async function notifyWebhook(
  url: string,
  result: RunResult,
  options: { onSuccess: boolean; host: string },
): Promise<'skipped' | 'sent' | { error: string }> {
  if (result.ok && !options.onSuccess) return 'skipped';
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(notificationBody(result, options.host)),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok)
      return {
        error:
          `the webhook answered HTTP ${response.status} ${(await response.text().catch(() => '')).slice(0, 200)}`.trim(),
      };
    return 'sent';
  } catch (error) {
    return { error: (error as Error).message };
  }
}
