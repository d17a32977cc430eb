// Pure: a duration as a person writes it, for messages and the docs site (a task's `timeoutMs`).

/** `90000` → `1m 30s`, `500` → `500ms`, `3600000` → `1h`: whole seconds past one second. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
  }
  return parts.join(' ');
}
